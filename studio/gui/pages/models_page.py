"""Models page (being built)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from studio.gui.app_state import AppState
from studio.gui.pages.placeholder_page import PlaceholderPage


class ModelsPage(PlaceholderPage):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, "Models", "Base models found on this machine.", parent)
