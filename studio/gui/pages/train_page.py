"""Train page: set the hyperparameters, see what they mean, start a run.

Every edit rebuilds the job through core's validator, so the problems, the adapter
size and the job file on the right are always those of what Start would launch.
The model and dataset come from their pages through AppState; the last form is
remembered across sessions.
"""

from __future__ import annotations

import copy
import html
import json
import sqlite3
from pathlib import Path, PurePath
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from studio.core import atomic, gpus, job_toml, machine_fit, magnitudes, memory_fit, runs, vram
from studio.core.datasets.job_check import check_job_dataset
from studio.core.job_schema import Issue, JobError, job_from_dict, load_job, to_dict
from studio.core.jobs import TrainJob, stage_typical
from studio.core.models import ModelError, inspect_model, model_source
from studio.core.paths import user_path
from studio.core.presets import Preset, for_method
from studio.core.queue.store import QueueError, QueueStore
from studio.gui import run_launcher
from studio.gui.app_state import AppState
from studio.gui.dataset_kind import DatasetKind
from studio.gui.page_help import PAGE_HELP
from studio.gui.widgets.issue_list import IssueList
from studio.gui.widgets.job_form import JobForm, labelled
from studio.gui.widgets.job_preview import JobPreview
from studio.gui.widgets.lora_size_label import LoraSizeLabel
from studio.gui.widgets.preset_picker import PresetPicker, preset_values
from studio.gui.widgets.vram_panel import VramPanel

_SIDE_WIDTH = 340
FORM_RIGHT_MARGIN = 4  # between the form and the scroll area's vertical bar
# Start reads a dataset up to this size whole (the bundled sample: ~15 ms); a larger one by its first
# rows only, since the worker reads it all again (a 200 MB JSONL takes ~7 s) and applies the bad-row rule.
START_CHECK_BYTES = 256 << 10
# The one primary action, in the accent colour; plainly grey while the job has problems.
_START_STYLE = """
QPushButton#startTraining { background: palette(highlight); color: palette(highlighted-text);
    border: none; border-radius: 4px; padding: 8px; font-weight: 600; }
QPushButton#startTraining:pressed { background: palette(dark); }
QPushButton#startTraining:disabled { background: palette(button); color: palette(mid); }
"""


class TrainPage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._issues: list[Issue] = []
        self._job: TrainJob | None = None
        self._pushing = False  # set while this page updates state.job itself
        self.form = JobForm()
        self.context_label = QLabel()
        self.presets = PresetPicker()
        self.size_label = LoraSizeLabel()
        self.issue_list = IssueList()
        self.preview = JobPreview()
        self.save_button = QPushButton("Save job…")
        self.load_button = QPushButton("Load job…")
        self.save_button.setToolTip("Write this page's settings, model and dataset to a job file (.toml or .json); "
                                    "`lora-studio train --job FILE` runs the same job in a terminal")
        self.load_button.setToolTip("Fill this page from a job file (.toml or .json) saved here or written by hand; "
                                    "a file with problems lists them and leaves the page as it was")
        self.file_message = IssueList()
        self.start_button = QPushButton("Start training")
        self.queue_button = QPushButton("Add to queue")
        self.fit_message = IssueList()  # "Will not fit: …" with the numbers and what to change
        self.start_anyway = QCheckBox("Start anyway")
        self.start_anyway.setToolTip("Start even though the memory estimate says the job will not fit (the "
                                     "estimate errs high, or you know better; it may run out of memory), or a "
                                     "value is far past any usual need (you mean it).")
        self._fit: memory_fit.MemoryFit | None = None
        self._unusual: list[Issue] = []  # core.magnitudes: a rank above the layers' width, a million steps
        self.dataset_kind = DatasetKind(START_CHECK_BYTES)  # a preference file for SFT, replies for DPO
        self.vram_panel = VramPanel(state.settings.vram_card)
        self.vram_panel.card_chosen.connect(self._card_chosen)
        self._build()
        self._restore()
        self.form.changed.connect(self._refresh)
        self.presets.applied.connect(self.apply_preset)
        self.save_button.clicked.connect(self._ask_save)
        self.load_button.clicked.connect(self._ask_load)
        self.start_button.clicked.connect(self.start_training)
        self.queue_button.clicked.connect(self.add_to_queue)
        self.vram_panel.apply_requested.connect(self.apply_edits)
        self.start_anyway.toggled.connect(lambda _on: self._show_readiness())
        state.model_changed.connect(self._on_model_changed)
        state.dataset_changed.connect(self._on_dataset_changed)
        state.job_changed.connect(self._on_job_changed)
        state.token_stats_changed.connect(self._show_memory)
        self._refresh()

    # -- what the form says ------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.form_scroll.viewport():
            self.form.fit_width(self.form_scroll.viewport().width() - FORM_RIGHT_MARGIN)
        return super().eventFilter(watched, event)

    def current_data(self) -> dict[str, Any]:
        return self.form.job_data()

    def current_job(self) -> TrainJob | None:
        """The job Start would launch, or None while the form has problems (the memory estimate
        still shows a job this machine can't run: the card it is planned for may be another's)."""
        return None if self._issues else self._job

    def issues(self) -> list[Issue]:
        return list(self._issues)

    def fit_verdict(self) -> memory_fit.MemoryFit | None:
        """core.memory_fit's verdict on the job where Start would train it: the chosen card for a
        GPU run, this machine's available RAM for a CPU run (None without a model or an estimate)."""
        return self._fit

    def unusual_values(self) -> list[Issue]:
        """core.magnitudes' verdict: values far past any usual need, which hold Start back until
        "Start anyway" is ticked (as ``lora-studio train`` refuses them without --force)."""
        return list(self._unusual)

    def start_blocked(self) -> bool:
        """Problems to fix, or a job that will not fit or has unusual values, without "Start anyway" ticked."""
        return bool(self._issues) or (self._needs_override() and not self.start_anyway.isChecked())

    def _needs_override(self) -> bool:
        return bool(self._unusual) or (self._fit is not None and self._fit.blocks)

    def apply_preset(self, preset: Preset | None = None) -> Preset:
        """Fill rank, alpha, dropout, learning rate and target modules from ``preset``
        (default: the one chosen in the Preset box)."""
        preset = preset or self.presets.preset()
        # the Method box's own adjustment (VeRA's rank and rate): a preset's values are LoRA's
        preset = for_method(preset, self.form.method_combo.currentData(),
                            self.state.model.config if self.state.model is not None else None)
        values = preset_values(preset, self.state.model)
        lr = "training.learning_rate"
        if lr in values:  # a preset's rate is SFT's: a preference stage takes its share (core.jobs.stage_typical)
            self.form.sft_learning_rate = float(values[lr])
            values[lr] = stage_typical(self.form.stage(), self.form.sft_learning_rate)[lr]
        self.form.set_values(values)
        self.presets.show_applied(preset)
        return preset

    # -- job files ---------------------------------------------------------------

    def confirm_second_run(self, live: Path) -> bool:
        """Two runs share one GPU badly: ask before starting another beside a live one."""
        answer = QMessageBox.question(
            self, "A run is already training",
            f"Run {live.name} is still training. Start another one beside it? Both will be slower, "
            "and on a GPU they may run out of memory.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def apply_edits(self, edits: dict[str, Any]) -> None:
        """Apply dotted-field edits (e.g. a memory suggestion) to the form in one go."""
        data = self.current_data()
        for dotted, value in edits.items():
            section, name = dotted.split(".", 1)
            data.setdefault(section, {})[name] = value
        self.form.set_job_data(data)
        self._refresh()

    def save_job(self, path: str | Path) -> Path:
        """Write the form's job as TOML (a .toml path) or JSON (any other)."""
        path = Path(path)
        data = self.current_data()
        text = job_toml.dumps(data) if path.suffix.lower() == ".toml" else \
            json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        atomic.write_text(path, text)
        self.file_message.show_note(f"Saved {path}.")
        return path

    def load_job(self, path: str | Path) -> bool:
        """Load a job file into the form; on problems list them and leave the form as it was."""
        path = Path(path)
        try:
            job = load_job(path)
        except JobError as exc:
            self.file_message.show_issues(f"Could not load {path.name}:", exc.issues)
            return False
        if not isinstance(job, TrainJob):
            self.file_message.show_issues(f"Could not load {path.name}:",
                                          [Issue("kind", f"is '{job.kind}'; this page runs 'train' jobs")])
            return False
        self.form.set_job_data(to_dict(job))
        self._select_model_of(job)
        self.state.choose_dataset_of(job)  # its file, format, columns, text split and variables
        self.file_message.show_note(f"Loaded {path}.")
        return True

    def start_training(self) -> Path | None:
        """Start a worker for the job; returns its run folder (None if it can't start)."""
        job = self.current_job()
        if job is None or self.start_blocked() or not self._dataset_ready(job):
            return None
        live = runs.newest_live_run()
        if live is not None and not self.confirm_second_run(live):
            return None
        try:
            run_dir = run_launcher.start_run(job)
        except (run_launcher.LaunchError, OSError) as exc:
            self.file_message.show_note(f"Could not start the run: {exc}", error=True)
            return None
        self.file_message.show_note(f"Started run {run_dir.name}.")
        self.state.run_started.emit(str(run_dir))
        return run_dir

    def add_to_queue(self) -> int | None:
        """Queue the job (checked as Start checks it); returns its entry's number."""
        job = self.current_job()
        if job is None or self.start_blocked() or not self._dataset_ready(job):
            return None
        try:
            with QueueStore() as store:
                entry = store.add(job, source="app")
                waiting = len(store.entries(("queued",)))
                paused = store.paused
            run_launcher.start_queue_runner()
        except (QueueError, OSError, sqlite3.Error, run_launcher.LaunchError) as exc:
            self.file_message.show_note(f"Could not queue the job: {exc}", error=True)
            return None
        note = "the queue is paused (resume it on the Queue page)" if paused else "the Queue page follows it"
        self.file_message.show_note(f"Queued #{entry.id} {entry.label} ({waiting} waiting); {note}.")
        self.state.queue_changed.emit()
        return entry.id

    def _dataset_ready(self, job: TrainJob) -> bool:
        """A missing file or an unreadable format is said here, before a run folder exists; the
        check stays on this thread because it only reads a file's first rows (a small file whole)."""
        check = check_job_dataset(job.dataset, whole_file_bytes=START_CHECK_BYTES, quick=True,
                                  stage=job.training.stage, rewards=job.grpo.rewards)
        if check.ok:
            return True
        issues = list(check.issues)
        guess = check.guess
        if guess is not None and guess.mapping and guess.as_option() not in " ".join(map(str, issues)):
            issues.append(Issue("dataset.columns", f"the columns look like {guess.format}: set it to "
                                                   f"{guess.as_option()}, or map them on the Datasets page"))
        self.file_message.show_issues("Can't start: the dataset has a problem.", [labelled(i) for i in issues])
        return False

    # -- reacting ----------------------------------------------------------------

    def _refresh(self) -> None:
        data = self.current_data()
        typed = self.form.typed_issues()  # a box holding text it can't take: not the job Start would run
        cards = gpus.visible_gpus()
        try:
            job = job_from_dict(data, source="this job")
        except JobError as exc:
            self._job, self._issues = None, list(exc.issues) + typed
        else:
            # What this machine can't run, or a dataset the stage can't train, is refused now, as a form
            # error, not by the worker later.
            refusal = self.dataset_kind.refusal(job.dataset, job.training.stage)
            unread = self.dataset_kind.missing_reward_columns(job.dataset, job.grpo.rewards) if (
                job.training.stage == "grpo" and not refusal) else []
            self._job, self._issues = job, machine_fit.machine_issues(job, cards) + typed + \
                ([Issue("training.stage", refusal)] if refusal else []) + [Issue("grpo.rewards", p) for p in unread]
            data = to_dict(job)
            self._pushing = True
            try:
                self.state.set_job(job)
            finally:
                self._pushing = False
        self.form.set_refused_choices(machine_fit.refused_choices(data["training"]["device"], cards))
        self.form.show_issues(self._issues)
        self.preview.set_data(data)
        self.size_label.show_count(self.state.model, data["lora"])
        self._show_memory()
        self._show_context(data)
        self.state.change_settings(last_job=copy.deepcopy(data), soon=True)

    def _show_memory(self, *_: Any) -> None:
        """The memory estimate, the batch advice from the dataset's token lengths, and whether the
        job fits where Start would train it."""
        job = self._job
        on_cpu = job is not None and job.training.device == "auto" and not memory_fit.runs_on_gpu(job, gpus.visible_gpus())
        note = "This machine has no NVIDIA GPU: Start trains on the CPU, held against its RAM." if on_cpu else ""
        self.vram_panel.show_job(self.state.model, job, self.state.token_stats, note)
        self._fit = self._check_fit()
        self._unusual = self._check_magnitudes()
        self._show_readiness()

    def _check_fit(self) -> memory_fit.MemoryFit | None:
        model, job = self.state.model, self._job
        if model is None or job is None or self._issues:
            return None
        stats = self.state.token_stats
        try:
            target = memory_fit.target_for(job, gpus.visible_gpus(),
                                           card=(self.vram_panel.capacity(), self.vram_panel.card_name()))
            return memory_fit.check(job, model.config, target, num_parameters=getattr(model, "num_parameters", None),
                                    longest_row=stats.max if stats is not None and stats.count else None,
                                    graphs=self.vram_panel.graphs)
        except (vram.EstimateError, ValueError):
            return None  # no estimate: nothing to hold against (the panel says why)

    def _check_magnitudes(self) -> list[Issue]:
        """The layers' widths from the selected model, the rows from the Datasets page's token count."""
        model, job, stats = self.state.model, self._job, self.state.token_stats
        if job is None or self._issues:
            return []
        return magnitudes.magnitude_issues(job, model.config if model is not None else None,
                                           rows=stats.count if stats is not None and stats.count else None)

    def _show_readiness(self) -> None:
        """The problems, or whether the job fits, and Start enabled only when it may start."""
        count = len(self._issues)
        will_not_fit = not count and self._fit is not None and self._fit.blocks
        may_not_fit = not count and self._fit is not None and not self._fit.fits and not will_not_fit
        held = not count and self._needs_override()
        if count:
            self.issue_list.show_issues(f"{count} problem{'s' * (count != 1)} to fix before training:",
                                        [labelled(issue) for issue in self._issues])
        elif self.form.refusal:  # a typed value was put back: said until the next edit
            self.issue_list.show_note(self.form.refusal, error=True)
        elif held:
            self.issue_list.show_note("")
        else:
            self.issue_list.show_note("✓ Ready to train.", ok=True)
        if not held and self.start_anyway.isChecked():
            self.start_anyway.setChecked(False)  # the next job that won't fit is asked about again
        fit_said = self._fit.problem() if (will_not_fit or may_not_fit) and self._fit is not None else ""
        if held and self._unusual:
            self.fit_message.show_issues("Far past any usual need: change it, or tick Start anyway.",
                                         [labelled(issue) for issue in self._unusual]
                                         + ([Issue("", fit_said)] if fit_said else []))
        else:
            self.fit_message.show_note(fit_said, error=will_not_fit)
        self.start_anyway.setVisible(held)
        blocked = self.start_blocked()
        self.start_button.setEnabled(not blocked)
        self.queue_button.setEnabled(not blocked)
        self.queue_button.setToolTip(
            "Fix the problems listed above first." if count else
            "Held back (see above): change the job, or tick Start anyway." if blocked else
            "Run this job after the ones already queued (or beside them on a free GPU); the Queue page lists it, "
            "and the queue goes on after the window closes.")
        self.start_button.setToolTip(
            "Fix the problems listed above first." if count else
            "Held back (see above): change the job, or tick Start anyway." if blocked else
            "Start a worker for this job; the Monitor page follows it.")

    def _card_chosen(self, card: str) -> None:
        self.state.change_settings(vram_card=card)
        self._fit = self._check_fit()
        self._show_readiness()

    def _on_model_changed(self, model: Any) -> None:
        if model is not None:  # state.set_model put the path in state.job; take it before a refresh replaces it
            self.form.set_values({"model.path": self.state.job.model.path})
        self.presets.set_model(model)
        self.form.set_model_config(model.config if model is not None else None)
        if model is not None:
            # A model the form was not tuned for starts from its size's preset; the same
            # model selected again (e.g. restored at start-up) keeps the user's edits.
            if self.state.settings.tuned_for_model != model.id:
                self.apply_preset(self.presets.preset(0))
                self.state.change_settings(tuned_for_model=model.id)
        self._refresh()

    def _on_dataset_changed(self, path: str, fmt: str) -> None:
        self.form.set_values(self.state.dataset_fields())  # path, format and how the file is read

    def _on_job_changed(self, job: Any) -> None:
        if not self._pushing and isinstance(job, TrainJob):  # set elsewhere, e.g. "train again" on Runs
            self.form.set_job_data(to_dict(job))

    def _select_model_of(self, job: TrainJob) -> None:
        """After loading a job file, select its model, so counts and module names match it."""
        if _is_selected(self.state.model, job.model.path):
            return
        try:
            info = inspect_model(model_source(job.model.path))
        except (ModelError, OSError):
            return  # the job keeps its path; the worker says clearly if the model is missing
        self.state.change_settings(tuned_for_model=info.id)  # the file's values win over a preset
        self.state.set_model(info)

    def _show_context(self, data: dict[str, Any]) -> None:
        model = self.state.model
        name = model.name if model is not None else f"{data['model']['path']} (choose one on Models)"
        dataset = data["dataset"]
        # The file's name, its whole path in the tooltip: at 960 px a bundled sample's path was cut off.
        self.context_label.setText(f"Model: <b>{html.escape(name)}</b> &nbsp;·&nbsp; Dataset: "
                                   f"<b>{html.escape(PurePath(dataset['path']).name or dataset['path'])}</b> "
                                   f"({html.escape(dataset['format'])})")
        self.context_label.setToolTip(f"Model: {name}\nDataset: {dataset['path']}")

    def _restore(self) -> None:
        self.form.set_job_data(copy.deepcopy(self.state.settings.last_job))
        self.form.set_values(self.state.dataset_fields())
        if self.state.model is not None:
            self.presets.set_model(self.state.model)
            self.form.set_model_config(self.state.model.config)
            self.form.set_values({"model.path": self.state.job.model.path})

    # -- dialogs and layout ------------------------------------------------------

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save job", str(Path.home() / "job.toml"),
                                              "Job files (*.toml *.json);;TOML (*.toml);;JSON (*.json)")
        if path:
            self.save_job(path if Path(path).suffix else path + ".toml")

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load job", str(Path.home()),
                                              "Job files (*.toml *.json);;All files (*)")
        if path:
            self.load_job(path)

    def _build(self) -> None:
        title = QLabel("<h2 style='margin:0'>Train</h2>")
        title.setToolTip(PAGE_HELP["Train"])
        self.context_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        scroll = self.form_scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, FORM_RIGHT_MARGIN, 0)
        holder_layout.addWidget(self.form)
        scroll.setWidget(holder)
        scroll.viewport().installEventFilter(self)  # the form's columns follow its width

        size_box = QGroupBox("Preset and adapter size")
        size_layout = QVBoxLayout(size_box)
        size_layout.addWidget(self.presets)
        size_layout.addWidget(self.size_label)
        job_box = QGroupBox("Job file")
        job_layout = QVBoxLayout(job_box)
        job_layout.addWidget(self.preview, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        job_layout.addLayout(buttons)
        job_layout.addWidget(self.file_message)
        self.start_button.setObjectName("startTraining")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(38)
        self.queue_button.setMinimumHeight(38)
        self.start_button.setStyleSheet(_START_STYLE)
        # The preset, the memory panel and the job file scroll where the window is short; what is
        # wrong, whether it fits and Start stay in view under them.
        info = QVBoxLayout()
        info.setSpacing(12)
        info.setContentsMargins(0, 0, 0, 0)
        info.addWidget(size_box)
        info.addWidget(self.vram_panel)
        info.addWidget(job_box, 1)
        info_host = QWidget()
        info_host.setLayout(info)
        side_scroll = self.side_scroll = QScrollArea()
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setWidget(info_host)
        side = QVBoxLayout()
        side.setSpacing(8)
        side.addWidget(side_scroll, 1)
        side.addWidget(self.issue_list)
        side.addWidget(self.fit_message)
        side.addWidget(self.start_anyway)
        start_row = QHBoxLayout()
        start_row.setSpacing(8)
        start_row.addWidget(self.queue_button)
        start_row.addWidget(self.start_button, 1)
        side.addLayout(start_row)
        side_host = QWidget()
        side_host.setLayout(side)
        side_host.setFixedWidth(_SIDE_WIDTH)
        side.setContentsMargins(0, 0, 0, 0)

        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(scroll, 1)
        body.addWidget(side_host)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(self.context_label)
        layout.addLayout(body, 1)


def _is_selected(model: Any, setting: str) -> bool:
    """Whether the job's ``model.path`` names the model selected now (state.job already
    holds the loaded path, so only the selected ModelInfo can tell)."""
    if model is None:
        return False
    if setting == "bundled":
        return model.source == "bundled"
    try:
        return user_path(setting).resolve() == Path(model.path).resolve()
    except OSError:
        return False
