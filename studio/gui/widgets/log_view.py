"""The tail of a worker's log: the last few hundred lines, following the end.

Progress bars rewrite their line with carriage returns; only the last state of
such a line is kept, so the tail reads like a terminal would show it.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

MAX_LINES = 500


class LogView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText("The worker's log appears here.")
        self._partial = ""

    def append_text(self, text: str) -> None:
        """Add raw log text; an unfinished last line waits for the rest."""
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        if lines:
            self.append_lines([line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines[-MAX_LINES:]])

    def append_lines(self, lines: list[str]) -> None:
        bar = self.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 4
        self.appendPlainText("\n".join(lines))
        if following:
            self.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())

    def flush(self) -> None:
        """Show a last line that never got its newline (the run ended)."""
        if self._partial:
            line, self._partial = self._partial, ""
            self.append_lines([line.rsplit("\r", 1)[-1]])

    def reset(self) -> None:
        self._partial = ""
        self.clear()
