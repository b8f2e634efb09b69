"""The tail of a worker's log: the last few hundred lines, following the end.

Progress bars rewrite their line with carriage returns; only the last state of
such a line is kept, so the tail reads like a terminal would show it. Python
warnings raised inside installed libraries (transformers' FutureWarnings, each
two lines and repeated every step) once filled the panel: each is one line, shown
once with its count on the filter, and the filter hides them all.
"""

from __future__ import annotations

import re
from collections import deque

from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPlainTextEdit, QVBoxLayout, QWidget

MAX_LINES = 500
# "/…/site-packages/transformers/modeling_utils.py:3312: FutureWarning: `x` is deprecated…", bare or as the
# worker's logging writes it ("2026-12-03 16:35:10,111 WARNING py.warnings: /…").
LIBRARY_WARNING = re.compile(r"^(?:.*? py\.warnings: )?\S*?[/\\](?:site|dist)-packages[/\\](?P<package>[^/\\]+)[/\\]\S*?:\d+: "
                             r"(?P<kind>\w*Warning): (?P<message>.*)$")


def library_warning(line: str) -> str | None:
    """The one line a library's Python warning is shown as, or None for any other line."""
    found = LIBRARY_WARNING.match(line)
    if found is None:
        return None
    return f"[{found['package']} {found['kind']}] {found['message']}"


class LogView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("The worker's log appears here.")
        self.library_filter = QCheckBox()
        self.library_filter.setChecked(True)
        self.library_filter.setToolTip("Python warnings from installed libraries (transformers, peft, torch…), "
                                       "each shown once: they are about the libraries, rarely about your run")
        self.library_filter.toggled.connect(self._redraw)
        self._lines: deque[tuple[str, bool]] = deque(maxlen=MAX_LINES)  # (line, a library warning)
        self._warnings: dict[str, int] = {}  # each library warning's one line -> times it came
        self._after_warning = False  # the next line may be the warning's source line
        self._partial = ""
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addStretch(1)
        top.addWidget(self.library_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        self._show_count()

    def append_text(self, text: str) -> None:
        """Add raw log text; an unfinished last line waits for the rest."""
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        if lines:
            self.append_lines([line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines])

    def append_lines(self, lines: list[str]) -> None:
        shown = []
        for line in lines:
            if self._after_warning and line[:1].isspace():  # "  warnings.warn(": the warning's source line
                self._after_warning = False
                continue
            warning = library_warning(line)
            self._after_warning = warning is not None
            if warning is None:
                self._lines.append((line, False))
                shown.append(line)
                continue
            self._warnings[warning] = self._warnings.get(warning, 0) + 1
            if self._warnings[warning] == 1:
                self._lines.append((warning, True))
                if self.library_filter.isChecked():
                    shown.append(warning)
        self._show_count()
        if shown:
            self._add(shown[-MAX_LINES:])

    def flush(self) -> None:
        """Show a last line that never got its newline (the run ended)."""
        if self._partial:
            line, self._partial = self._partial, ""
            self.append_lines([line.rsplit("\r", 1)[-1]])

    def reset(self) -> None:
        self._partial = ""
        self._lines.clear()
        self._warnings.clear()
        self._after_warning = False
        self.text.clear()
        self._show_count()

    def toPlainText(self) -> str:  # named like the text box it wraps
        return self.text.toPlainText()

    def _add(self, lines: list[str]) -> None:
        bar = self.text.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 4
        self.text.appendPlainText("\n".join(lines))
        if following:
            self.text.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())

    def _redraw(self) -> None:
        show = self.library_filter.isChecked()
        self.text.setPlainText("\n".join(line for line, library in self._lines if show or not library))
        self.text.moveCursor(QTextCursor.MoveOperation.End)

    def _show_count(self) -> None:
        count = sum(self._warnings.values())
        self.library_filter.setText(f"Library warnings ({count})" if count else "Library warnings")
        self.library_filter.setVisible(bool(count))
