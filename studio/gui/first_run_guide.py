"""The first-run guide: train the bundled model on the sample dataset in four clicks.

Shown once, on the first start of the app (Settings can show it again). Each step does
one thing a person would otherwise look for on a page, ticks itself off and opens the
next; the last one starts the run and the window shows the Monitor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class Step:
    button: str
    explanation: str
    action: Callable[[], bool]  # True when the step worked


class FirstRunGuide(QDialog):
    def __init__(self, steps: list[Step], on_close: Callable[[], None], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Welcome to LoRA Studio")
        self.setModal(False)
        self._on_close = on_close
        intro = QLabel("<h3>Train your first adapter</h3>A LoRA adapter teaches a model a new style or skill "
                       "without changing the model itself. These four steps train the small bundled model on "
                       "the bundled sample (a pirate captain's voice) in about two minutes, even on a laptop's "
                       "CPU. Each step shows where the same setting lives in the app.")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        grid = QGridLayout()
        grid.setColumnStretch(2, 1)
        self.buttons: list[QPushButton] = []
        self.marks: list[QLabel] = []
        for row, step in enumerate(steps):
            number = QLabel(f"<b>{row + 1}.</b>")
            button = QPushButton(step.button)
            explanation = QLabel(step.explanation)
            explanation.setWordWrap(True)
            mark = QLabel("")
            button.clicked.connect(lambda _=False, i=row, s=step: self._run(i, s))
            button.setEnabled(row == 0)
            after = f" Available once step {row} is done." if row else ""
            button.setToolTip(f"{step.button}: {step.explanation}{after}")
            grid.addWidget(number, row, 0)
            grid.addWidget(button, row, 1)
            grid.addWidget(explanation, row, 2)
            grid.addWidget(mark, row, 3)
            self.buttons.append(button)
            self.marks.append(mark)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        close = QPushButton("Close the guide")
        close.setToolTip("Close the guide; it does not open by itself again (Settings: Show the first-run guide)")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addStretch(1)
        layout.addLayout(bottom)
        self.resize(760, self.sizeHint().height())

    def _run(self, index: int, step: Step) -> None:
        if not step.action():
            self.status.setText(f"Step {index + 1} did not work; the page behind this guide says why.")
            return
        self.marks[index].setText("✓")
        self.buttons[index].setEnabled(False)
        if index + 1 < len(self.buttons):
            self.buttons[index + 1].setEnabled(True)
            self.buttons[index + 1].setFocus()
        else:
            self.status.setText("Training has started: the Monitor shows it live. The adapter lands in the Library.")

    def closeEvent(self, event) -> None:
        self._on_close()
        super().closeEvent(event)

    def done(self, result: int) -> None:
        """Escape (reject) and the close button end here too: seen is seen, however it was dismissed."""
        self._on_close()
        super().done(result)
