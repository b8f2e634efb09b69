"""Monitor page (being built)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from studio.gui.app_state import AppState
from studio.gui.pages.placeholder_page import PlaceholderPage


class MonitorPage(PlaceholderPage):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, "Monitor", "Live charts of a run.", parent)
        self.run_dir: Path | None = None

    def follow(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def active_run(self) -> Path | None:
        return None

    def stop_run(self) -> None:
        pass
