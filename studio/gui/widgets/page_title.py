"""The title and one-line explanation at the top of a page ("what is this")."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel


def page_title(title: str, explanation: str) -> tuple[QLabel, QLabel]:
    heading = QLabel(f"<h2 style='margin:0'>{title}</h2>")
    subtitle = QLabel(explanation)
    subtitle.setWordWrap(True)
    subtitle.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return heading, subtitle
