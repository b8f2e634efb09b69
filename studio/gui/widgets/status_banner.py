"""A coloured strip that tells how a run is going or how it ended, with an optional fix.

Errors show their kind, message and hint; a run that ended well shows where its
adapter is and its final metrics. One action button (e.g. "Re-run with the fix")
can be offered beside the text, and a row of next steps under it (e.g. "Open in
Library", "Chat in Playground", "Compare with base" for a finished adapter).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.gui.widgets.metric_chart import colours

LEVEL_COLOUR = {"error": 3, "success": 2, "warning": 5, "info": 0}  # chart colour index


class StatusBanner(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("statusBanner")
        self.title = QLabel()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.message = QLabel()
        self.hint = QLabel()
        for label in (self.title, self.message, self.hint):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.action = QPushButton()
        self.action.setVisible(False)
        self._callback: Callable[[], object] | None = None
        self.action.clicked.connect(self._act)
        self.next_steps: list[QPushButton] = []
        self._next_row = QHBoxLayout()
        self._next_row.setContentsMargins(0, 4, 0, 0)
        self._next_row.setSpacing(6)
        self._next_row.addStretch(1)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.message)
        text.addWidget(self.hint)
        text.addLayout(self._next_row)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(text, 1)
        layout.addWidget(self.action, 0, Qt.AlignmentFlag.AlignVCenter)
        self.level = ""
        self.setVisible(False)

    def show_message(self, level: str, title: str, message: str = "", hint: str = "") -> None:
        self.level = level
        colour = QColor(colours()[LEVEL_COLOUR.get(level, 0)])
        fill = QColor(colour)
        fill.setAlpha(36)
        self.setStyleSheet(
            f"QFrame#statusBanner {{ background: rgba({fill.red()},{fill.green()},{fill.blue()},{fill.alpha()});"
            f" border: 1px solid {colour.name()}; border-left: 5px solid {colour.name()}; border-radius: 4px; }}"
            " QFrame#statusBanner QLabel { background: transparent; border: none; }")
        self.title.setText(title)
        self.message.setText(message)
        self.message.setVisible(bool(message))
        self.hint.setText(f"How to fix it: {hint}" if hint else "")
        self.hint.setVisible(bool(hint))
        self._hide_action()
        self.set_next_steps([])
        self.setVisible(True)

    def set_action(self, text: str, callback: Callable[[], object], tooltip: str) -> None:
        """Offer one fix beside the text; ``tooltip`` says what pressing it does."""
        self._callback = callback
        self.action.setText(text)
        self.action.setToolTip(tooltip)
        self.action.setVisible(True)
        self.action.setEnabled(True)

    def _hide_action(self) -> None:
        self._callback = None
        self.action.setText("")
        self.action.setVisible(False)  # its tooltip stays: unseen while hidden, replaced by set_action

    def set_next_steps(self, steps: list[tuple[str, str, Callable[[], None]]]) -> None:
        """Buttons under the text, left to right: (label, tooltip, what it does)."""
        for button in self.next_steps:
            self._next_row.removeWidget(button)
            button.deleteLater()
        self.next_steps = []
        for index, (label, tip, callback) in enumerate(steps):
            button = QPushButton(label)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, act=callback: act())
            self._next_row.insertWidget(index, button)
            self.next_steps.append(button)

    def clear(self) -> None:
        self.level = ""
        self._hide_action()
        self.set_next_steps([])
        self.setVisible(False)

    def text(self) -> str:
        """Everything the banner says, for tests and accessibility."""
        return "\n".join(label.text() for label in (self.title, self.message, self.hint) if label.text())

    def _act(self) -> None:
        if self._callback is not None:
            self._callback()
