"""What the pages share: the chosen model, dataset and job, and the user's settings, with change signals.

Pages never talk to each other directly; they read and update this one object,
so the Train page learns about a new model the moment Models picks it. Settings
live in ``<home>/settings.json`` (core.settings, shared with the CLI); Qt's own
settings keep only the window's geometry and page.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from studio.core import settings as user_settings
from studio.core.datasets import TokenStats
from studio.core.jobs import TrainJob
from studio.core.models import ModelInfo
from studio.gui.settings_migration import migrate_qsettings

SAVE_DELAY_MS = 500  # settings changed while typing are written once the typing pauses


class AppState(QObject):
    model_changed = Signal(object)  # ModelInfo | None
    dataset_changed = Signal(str, str)  # path, format ("auto" or a name)
    token_stats_changed = Signal(object)  # TokenStats | None: the dataset's token lengths (Datasets page)
    job_changed = Signal(object)  # TrainJob
    run_started = Signal(str)  # run folder
    page_requested = Signal(str)  # page name, e.g. "Monitor"
    library_changed = Signal()  # a version was added, changed, moved or removed
    merge_requested = Signal(list, str)
    compare_requested = Signal(str)  # an adapter or checkpoint folder to add on the Compare page  # library refs to preselect on Merge; "merge" or "export"

    def __init__(self, window_settings: QSettings | None = None):
        super().__init__()
        self.window_settings = window_settings or QSettings()  # geometry and the page shown
        migrate_qsettings(self.window_settings)
        self.settings = user_settings.load()
        self._unsaved: dict[str, Any] = {}
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_settings)
        self.model: ModelInfo | None = None
        self.dataset_path: str = self.settings.dataset_path
        self.dataset_format: str = self.settings.dataset_format
        self.job = TrainJob()
        # Measured by the Datasets page with the model's tokenizer; None until then, or without one.
        self.token_stats: TokenStats | None = None

    # -- settings ------------------------------------------------------------------------------

    def change_settings(self, soon: bool = False, **changes: Any) -> None:
        """Change settings now (in memory) and in settings.json: at once, or ``soon`` (after a
        pause, for values that change with every keystroke)."""
        changes = {name: value for name, value in changes.items() if getattr(self.settings, name) != value}
        if not changes:
            return
        self.settings = dataclasses.replace(self.settings, **changes)
        self._unsaved.update(changes)
        if soon:
            self._save_timer.start()
        else:
            self.save_settings()

    def save_settings(self) -> None:
        """Write the changes not yet written (the window calls it when it closes)."""
        self._save_timer.stop()
        if self._unsaved:
            changes, self._unsaved = self._unsaved, {}
            self.settings = user_settings.update(**changes)

    def add_model_folder(self, folder: str | Path) -> None:
        self.save_settings()
        self.settings = user_settings.add_model_folder(folder)  # to the list in the file (the CLI adds too)

    def remove_model_folder(self, folder: str | Path) -> None:
        self.save_settings()
        self.settings = user_settings.remove_model_folder(folder)

    def reload_settings(self) -> None:
        """Take in what another process (the CLI) changed, keeping this one's unsaved changes."""
        self.settings = dataclasses.replace(user_settings.load(), **self._unsaved)

    # -- what the pages share ------------------------------------------------------------------

    def set_model(self, model: ModelInfo | None) -> None:
        self.model = model
        if model is not None:
            self.change_settings(last_model=model.id)
            self.job.model.path = "bundled" if model.source == "bundled" else str(model.path)
        self.model_changed.emit(model)

    def set_dataset(self, path: str, fmt: str = "auto") -> None:
        self.dataset_path, self.dataset_format = path, fmt
        self.change_settings(dataset_path=path, dataset_format=fmt)
        self.job.dataset.path, self.job.dataset.format = path, fmt
        self.dataset_changed.emit(path, fmt)

    def set_token_stats(self, stats: TokenStats | None) -> None:
        self.token_stats = stats
        self.token_stats_changed.emit(stats)

    def set_job(self, job: TrainJob) -> None:
        self.job = copy.deepcopy(job)
        self.job_changed.emit(self.job)
