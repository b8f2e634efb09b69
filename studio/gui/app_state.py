"""What the pages share: the chosen model, dataset and job, with change signals.

Pages never talk to each other directly; they read and update this one object,
so the Train page learns about a new model the moment Models picks it.
"""

from __future__ import annotations

import copy

from PySide6.QtCore import QObject, QSettings, Signal

from studio.core.datasets import TokenStats
from studio.core.jobs import TrainJob
from studio.core.models import ModelInfo


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

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.model: ModelInfo | None = None
        self.dataset_path: str = str(self.settings.value("dataset/path", "bundled"))
        self.dataset_format: str = str(self.settings.value("dataset/format", "auto"))
        self.job = TrainJob()
        # Measured by the Datasets page with the model's tokenizer; None until then, or without one.
        self.token_stats: TokenStats | None = None

    def set_model(self, model: ModelInfo | None) -> None:
        self.model = model
        if model is not None:
            self.settings.setValue("model/id", model.id)
            self.job.model.path = "bundled" if model.source == "bundled" else str(model.path)
        self.model_changed.emit(model)

    def set_dataset(self, path: str, fmt: str = "auto") -> None:
        self.dataset_path, self.dataset_format = path, fmt
        self.settings.setValue("dataset/path", path)
        self.settings.setValue("dataset/format", fmt)
        self.job.dataset.path, self.job.dataset.format = path, fmt
        self.dataset_changed.emit(path, fmt)

    def set_token_stats(self, stats: TokenStats | None) -> None:
        self.token_stats = stats
        self.token_stats_changed.emit(stats)

    def set_job(self, job: TrainJob) -> None:
        self.job = copy.deepcopy(job)
        self.job_changed.emit(self.job)
