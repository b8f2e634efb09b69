"""What the pages share: the chosen model, dataset and job, and the user's settings, with change signals.

Pages never talk to each other directly; they read and update this one object,
so the Train page learns about a new model the moment Models picks it. Settings
live in ``<home>/settings.json`` (core.settings, shared with the CLI); Qt's own
settings keep only the window's geometry and page.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from studio.core import settings as user_settings
from studio.core.datasets import TokenStats
from studio.core.jobs import DatasetSettings, TextSplit, TrainJob
from studio.core.models import ModelInfo
from studio.gui.settings_migration import migrate_qsettings

SAVE_DELAY_MS = 500  # settings changed while typing are written once the typing pauses
# How the chosen file is read, chosen with it on the Datasets page (DatasetSettings fields).
DATASET_READING = ("columns", "text_split", "variables")


class AppState(QObject):
    model_changed = Signal(object)  # ModelInfo | None
    dataset_changed = Signal(str, str)  # path, format ("auto" or a name); dataset_reading says the rest
    token_stats_changed = Signal(object)  # TokenStats | None: the dataset's token lengths (Datasets page)
    job_changed = Signal(object)  # TrainJob
    run_started = Signal(str)  # run folder
    page_requested = Signal(str)  # page name, e.g. "Monitor"
    library_changed = Signal()  # a version was added, changed, moved or removed
    queue_changed = Signal()  # a job was added to the run queue
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
        # columns, text_split, variables: kept in the Train form's last job (settings.last_job).
        self.dataset_reading: dict[str, Any] = reading_of(self.settings.last_job.get("dataset"),
                                                          self.dataset_path, self.dataset_format)
        self.job = TrainJob()
        self._put_dataset_in_job()
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

    def set_dataset(self, path: str, fmt: str = "auto", reading: Mapping[str, Any] | None = None) -> None:
        """Choose the training file and its format; ``reading`` says how to read it (columns,
        text_split, variables, as in DatasetSettings; those left out take their defaults)."""
        self.dataset_path, self.dataset_format = path, fmt
        self.dataset_reading = reading_of(reading)
        self.change_settings(dataset_path=path, dataset_format=fmt)
        self._put_dataset_in_job()
        self.dataset_changed.emit(path, fmt)

    def choose_dataset_of(self, job: TrainJob) -> None:
        """Choose the dataset a job names, read the way it says (a job file loaded on Train)."""
        reading = {name: getattr(job.dataset, name) for name in DATASET_READING}
        if (job.dataset.path, job.dataset.format, reading_of(reading)) != \
                (self.dataset_path, self.dataset_format, self.dataset_reading):
            self.set_dataset(job.dataset.path, job.dataset.format, reading)

    def dataset_fields(self) -> dict[str, Any]:
        """The chosen dataset as the Train form's dotted fields: where it is and how it is read."""
        return {"dataset.path": self.dataset_path, "dataset.format": self.dataset_format,
                **{f"dataset.{name}": copy.deepcopy(value) for name, value in self.dataset_reading.items()}}

    def _put_dataset_in_job(self) -> None:
        self.job.dataset.path, self.job.dataset.format = self.dataset_path, self.dataset_format
        for name, value in self.dataset_reading.items():
            setattr(self.job.dataset, name, copy.deepcopy(value))

    def set_token_stats(self, stats: TokenStats | None) -> None:
        self.token_stats = stats
        self.token_stats_changed.emit(stats)

    def set_job(self, job: TrainJob) -> None:
        self.job = copy.deepcopy(job)
        self.job_changed.emit(self.job)


def reading_of(data: Any, path: str | None = None, fmt: str | None = None) -> dict[str, Any]:
    """columns, text_split and variables from ``data`` (a job's dataset section), each checked and
    else its default; with ``path``/``fmt``, only when ``data`` is about that file (a last job
    saved for another file says nothing about how to read this one)."""
    defaults = DatasetSettings()
    reading: dict[str, Any] = {name: copy.deepcopy(getattr(defaults, name)) for name in DATASET_READING}
    if not isinstance(data, Mapping) or (path is not None and (data.get("path"), data.get("format")) != (path, fmt)):
        return reading
    for name in ("columns", "variables"):
        value = data.get(name)
        if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            reading[name] = dict(value)
    if data.get("text_split") in typing.get_args(TextSplit):
        reading["text_split"] = data["text_split"]
    return reading
