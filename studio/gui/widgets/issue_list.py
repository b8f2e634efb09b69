"""A red list of a job's problems (field and fix), or a one-line note when there are none."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from studio.core.job_schema import Issue

RED = "#d64545"
GREEN = "#3d8b37"


class IssueList(QLabel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._lines: list[str] = []
        self.setVisible(False)  # takes no room until there is something to say

    def lines(self) -> list[str]:
        """What is shown, as plain text (one line per problem)."""
        return list(self._lines)

    def show_issues(self, heading: str, issues: list[Issue]) -> None:
        self._lines = [heading, *(str(i) for i in issues)]
        self.setVisible(True)
        # A table, not a list: Qt indents lists a long way, and wrapped lines should hang.
        rows = "".join(f"<tr><td>•&nbsp;</td><td>{f'<b>{_esc(i.field)}</b> ' if i.field else ''}"
                       f"{_esc(i.message)}</td></tr>" for i in issues)
        self.setText(f"<div style='color:{RED}'><b>{_esc(heading)}</b>"
                     f"<table cellspacing='0' cellpadding='1'>{rows}</table></div>")

    def show_note(self, text: str, ok: bool = False, error: bool = False) -> None:
        self._lines = [text] if text else []
        self.setVisible(bool(text))
        colour = RED if error else GREEN if ok else ""
        body = _esc(text)
        self.setText(f"<span style='color:{colour}'>{body}</span>" if colour else body)


def _esc(text: str) -> str:
    return html.escape(text, quote=False)
