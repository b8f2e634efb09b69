"""The first-run guide: train the bundled model on the sample dataset in four clicks.

Shown once, on the first start of the app (Settings can show it again). Each step does
one thing a person would otherwise look for on a page, ticks itself off and opens the
next; the last one starts the run and the window shows the Monitor.

It is window-modal over the main window and centred on it: a separate window was placed
wherever the window manager liked and could fall behind the window it drives (issue 21).
The steps need no clicks on the window (each acts on it from here), so blocking it is
right while the guide leads; a step that fails needs the page behind fixed by hand, so
the guide then steps aside (non-modal, still open) until a step works again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

WIDTH = 760  # each step's explanation on one or two lines beside its button


@dataclass(frozen=True)
class Step:
    button: str
    explanation: str
    action: Callable[[], bool]  # True when the step worked


class FirstRunGuide(QDialog):
    def __init__(self, steps: list[Step], on_close: Callable[[], None], parent: QWidget):
        super().__init__(parent)
        self.setWindowTitle("Welcome to LoRA Studio")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        parent.installEventFilter(self)  # follows the window: a window manager may place it after we open
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
        self.close_button = close
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addLayout(bottom)
        # The height its wrapped text takes at this width: sizeHint() wraps narrower, and left ~90 px blank.
        self.resize(WIDTH, layout.totalHeightForWidth(WIDTH))

    def centre_on_parent(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        frame = self.frameGeometry()
        frame.moveCenter(parent.frameGeometry().center())
        self.move(frame.topLeft())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not event.spontaneous():
            self.centre_on_parent()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() in (QEvent.Type.Move, QEvent.Type.Resize) \
                and self.isVisible():
            self.centre_on_parent()
        return super().eventFilter(watched, event)

    def _set_modal(self, modal: bool) -> None:
        """Qt applies a changed modality only on the next show."""
        wanted = Qt.WindowModality.WindowModal if modal else Qt.WindowModality.NonModal
        if self.windowModality() == wanted:
            return
        visible = self.isVisible()
        self.hide()
        self.setWindowModality(wanted)
        if visible:
            self.show()

    def _run(self, index: int, step: Step) -> None:
        if not step.action():
            # The fix is on the page behind, which a modal guide would keep the user from.
            self._set_modal(False)
            self.status.setText(f"Step {index + 1} did not work; the page behind this guide says why. Fix it "
                                f"there, then press step {index + 1} again.")
            return
        self._set_modal(True)
        self.status.setText("")
        self.marks[index].setText("✓")
        self.buttons[index].setEnabled(False)
        if index + 1 < len(self.buttons):
            self.buttons[index + 1].setEnabled(True)
            self.buttons[index + 1].setFocus()
        else:
            self.status.setText("Training has started: the Monitor behind shows it live (close this guide to use "
                                "the window). The adapter lands in the Library.")
            self.close_button.setFocus()

    def closeEvent(self, event) -> None:
        self._on_close()
        super().closeEvent(event)

    def done(self, result: int) -> None:
        """Escape (reject) and the close button end here too: seen is seen, however it was dismissed."""
        self._on_close()
        super().done(result)
