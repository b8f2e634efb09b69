"""A page whose feature lands in a later version: says so clearly instead of crashing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.gui.app_state import AppState


class PlaceholderPage(QWidget):
    def __init__(self, state: AppState, title: str, what: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.title = title
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        heading = QLabel(f"<h2>{title}</h2>")
        body = QLabel(f"{what}<br><br><i>Coming in a later version of LoRA Studio.</i>")
        body.setWordWrap(True)
        body.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(heading)
        layout.addWidget(body)
        layout.addStretch(1)
