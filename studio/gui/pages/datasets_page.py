"""Datasets page: open a file, see what the trainer will see, and what is wrong with it.

Loading checks every row (bad ones are listed with line and field, not hidden), the
split and truncation numbers follow the Train page's settings, and one example is
drawn through the selected model's chat template with the trained tokens marked.
Reading the file and counting tokens run on the thread pool; a result that arrives
after a newer request (another file, another model) is dropped.
"""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.datasets import (
    FORMAT_HELP,
    FORMAT_NAMES,
    DatasetError,
    LoadedDataset,
    load_dataset_file,
    split_sizes,
)
from studio.core.resources import bundled_dataset_path, resolve_dataset_path
from studio.gui.app_state import AppState
from studio.gui.background import run_in_background
from studio.gui.dataset_analysis import TokenReport, measure_tokens
from studio.gui.widgets.dataset_rows import DatasetRows
from studio.gui.widgets.example_view import ExampleView
from studio.gui.widgets.page_title import page_title
from studio.gui.widgets.token_histogram import TokenHistogram

FILE_FILTER = "Datasets (*.json *.jsonl *.ndjson *.csv *.parquet *.txt);;All files (*)"


def _group(title: str, tip: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    box.setToolTip(tip)
    QVBoxLayout(box).addWidget(widget)
    return box


class DatasetsPage(QWidget):
    dataset_loaded = Signal(object)  # LoadedDataset
    load_failed = Signal(str)  # the message shown
    tokens_measured = Signal()  # histogram and example are up to date (or say why not)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.dataset: LoadedDataset | None = None
        self.report: TokenReport | None = None
        self.setting = ""  # "bundled" or the file path, as state.set_dataset gets it
        self._load_generation = 0
        self._token_generation = 0
        self._pending = 0
        self._loading = False
        self._build()
        state.model_changed.connect(self._on_model_changed)
        state.job_changed.connect(self._on_job_changed)
        state.dataset_changed.connect(self._on_dataset_changed)
        self.open_path(state.dataset_path, state.dataset_format)

    # -- public ---------------------------------------------------------------------------------

    def open_path(self, path: str | Path, fmt: str = "auto") -> None:
        """Load a dataset file ("bundled" for the sample) in the background."""
        resolved = resolve_dataset_path(str(path))
        self.setting = "bundled" if resolved == bundled_dataset_path() else str(resolved)
        self.format_combo.blockSignals(True)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))
        self.format_combo.blockSignals(False)
        shown = "Captain Lora sample (bundled)" if self.setting == "bundled" else resolved.name
        self.file_label.setText(shown)
        self.file_label.setToolTip(str(resolved))
        self._load()

    def busy(self) -> bool:
        """True while a load or a token count is running (tests wait for False)."""
        return self._pending > 0

    def selected_format(self) -> str:
        return str(self.format_combo.currentData())

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        title, subtitle = page_title("Datasets", "Open a training file to check every row, see how long the examples are in "
                          "tokens, and what the model will learn from.")
        open_button = QPushButton("Open…")
        open_button.setToolTip("Open a .json, .jsonl, .csv, .parquet or .txt file")
        open_button.clicked.connect(self._choose_file)
        bundled_button = QPushButton("Use the bundled sample")
        bundled_button.setToolTip("The Captain Lora sample: 327 alpaca rows that teach a pirate voice")
        bundled_button.clicked.connect(lambda: self.open_path("bundled"))
        header = QHBoxLayout()
        heading = QVBoxLayout()
        heading.setSpacing(2)
        heading.addWidget(title)
        heading.addWidget(subtitle)
        header.addLayout(heading, 1)
        header.addWidget(open_button, 0, Qt.AlignmentFlag.AlignBottom)
        header.addWidget(bundled_button, 0, Qt.AlignmentFlag.AlignBottom)

        self.file_label = QLabel()
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format_combo = QComboBox()
        self.format_combo.addItem("auto", "auto")
        self.format_combo.setItemData(0, "Detect the format from the keys of the first rows", Qt.ItemDataRole.ToolTipRole)
        for name in FORMAT_NAMES:
            self.format_combo.addItem(name, name)
            self.format_combo.setItemData(self.format_combo.count() - 1, FORMAT_HELP[name], Qt.ItemDataRole.ToolTipRole)
        self.format_combo.setToolTip("Row format; 'auto' detects it. Pick another to read the file as that format:\n"
                                     + "\n".join(f"{n}: {h}" for n, h in FORMAT_HELP.items()))
        self.format_combo.setMinimumWidth(200)
        self.format_combo.currentIndexChanged.connect(self._load)
        self.loading_label = QLabel("Loading…")
        self.loading_label.setToolTip("Reading and checking the file, or counting tokens")
        self.counts_label = QLabel()
        self.counts_label.setToolTip("Rows in the file, rows that can be trained on, and rows skipped as bad")
        self.split_label = QLabel()
        self.split_label.setToolTip("How the good rows split into training and evaluation "
                                    "(eval share and seed are set on the Train page)")
        info = QHBoxLayout()
        for widget in (QLabel("File:"), self.file_label, QLabel("   Format:"), self.format_combo,
                       self.loading_label):
            info.addWidget(widget)
        info.addStretch(1)
        info.addWidget(self.counts_label)
        info.addWidget(QLabel("   "))
        info.addWidget(self.split_label)

        self.error_label = QLabel()
        self.error_label.setToolTip("Why this file cannot be used")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("QLabel { background: #fbe3e4; color: #8a1f24; border: 1px solid #e6a5a8;"
                                       " border-radius: 4px; padding: 8px; }")
        self.error_label.hide()

        self.rows = DatasetRows()
        self.histogram = TokenHistogram()
        self.example_view = ExampleView()
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.rows)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(_group("Token lengths", "Length of each example in the model's tokens", self.histogram))
        right.addWidget(_group("One example, as the model sees it",
                               "An example rendered through the chat template", self.example_view))
        right.setSizes([300, 360])
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(left)
        body.addWidget(right)
        body.setSizes([560, 520])
        for splitter in (left, right, body):
            splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(12)
        layout.addLayout(header)
        layout.addLayout(info)
        layout.addWidget(self.error_label)
        layout.addWidget(body, 1)

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> None:
        self._load_generation += 1
        self._token_generation += 1  # a count for the old file is stale too
        self._pending += 1
        self._loading = True
        self.loading_label.show()
        self.state.set_token_stats(None)  # the old file's lengths are not this one's
        fmt = self.selected_format()
        self.format_combo.setItemText(0, "auto")
        run_in_background(partial(load_dataset_file, on_error="skip"), resolve_dataset_path(self.setting), fmt,
                          on_done=partial(self._on_loaded, self._load_generation, fmt),
                          on_error=partial(self._on_load_failed, self._load_generation))

    def _on_loaded(self, generation: int, fmt: str, dataset: LoadedDataset) -> None:
        self._done_one()
        if generation != self._load_generation:
            return
        self._loading = False
        self.dataset = dataset
        self.error_label.hide()
        if fmt == "auto":
            self.format_combo.setItemText(0, f"auto: {dataset.format}")
        self.rows.show_dataset(dataset)
        good, bad = len(dataset.examples), len(dataset.issues)
        self.counts_label.setText(f"<b>{dataset.rows_total}</b> rows · <b>{good}</b> good · "
                                  f"<b>{bad}</b> bad")
        self._update_split()
        self.state.set_dataset(self.setting, fmt)
        self.dataset_loaded.emit(dataset)
        self._measure()

    def _on_load_failed(self, generation: int, error: BaseException) -> None:
        self._done_one()
        if generation != self._load_generation:
            return
        self._loading = False
        self.dataset = None
        self.report = None
        if isinstance(error, DatasetError):
            message = str(error)
        else:  # e.g. a folder, a permission problem: one line, never a traceback
            message = f"{Path(self.setting).name}: cannot read: {error}"
        self.error_label.setText(f"<b>This file cannot be used.</b> {html.escape(message)}")
        self.error_label.show()
        self.rows.clear()
        self.counts_label.setText("")
        self.split_label.setText("")
        self.histogram.show_message("No dataset loaded.")
        self.example_view.clear("No dataset loaded.")
        self.load_failed.emit(message)

    def _measure(self) -> None:
        if self.dataset is None or self._loading:  # a load in flight measures when it lands
            return
        self._token_generation += 1
        self._pending += 1
        self.loading_label.show()
        run_in_background(measure_tokens, self.dataset.examples, self.state.model,
                          self.state.job.training.max_length,
                          on_done=partial(self._on_measured, self._token_generation),
                          on_error=partial(self._on_measure_failed, self._token_generation))

    def _on_measured(self, generation: int, report: TokenReport) -> None:
        self._done_one()
        if generation != self._token_generation or self.dataset is None:
            return
        self.report = report
        self.state.set_token_stats(report.stats)
        if report.stats is None:
            self.histogram.show_message(report.note)
        else:
            self.histogram.set_stats(report.stats, report.note)
            self.histogram.set_max_length(self.state.job.training.max_length)
        examples, template = self.dataset.examples, report.template

        def segments(index: int) -> tuple[str, list[tuple[str, bool]]]:
            return examples[index].source, template.segments(examples[index])

        self.example_view.set_source(len(examples), segments, f"Rendered with the {template.origin}.")
        self.tokens_measured.emit()

    def _on_measure_failed(self, generation: int, error: BaseException) -> None:
        self._done_one()
        if generation == self._token_generation:
            self.histogram.show_message(f"Cannot measure token lengths: {error}")
            self.tokens_measured.emit()

    def _done_one(self) -> None:
        self._pending -= 1
        self.loading_label.setVisible(self._pending > 0)

    # -- reactions ------------------------------------------------------------------------------

    def _update_split(self) -> None:
        if self.dataset is None:
            return
        fraction = self.state.job.dataset.eval_fraction
        try:  # counts only: this runs on every keystroke of the Train form
            train, evals = split_sizes(len(self.dataset.examples), fraction)
        except ValueError:  # the Train page shows why the fraction is invalid
            self.split_label.setText(f"eval share {fraction} is not in [0, 1)")
            return
        self.split_label.setText(f"<b>{train}</b> train / <b>{evals}</b> eval")

    def _on_model_changed(self, _model: object) -> None:
        self._measure()

    def _on_dataset_changed(self, path: str, fmt: str) -> None:
        """Another page chose a dataset (e.g. Train loaded a job file): show that one."""
        if (path, fmt) != (self.setting, self.selected_format()):
            self.open_path(path, fmt)

    def _on_job_changed(self, _job: object) -> None:
        self._update_split()
        self.histogram.set_max_length(self.state.job.training.max_length)

    def _choose_file(self) -> None:
        start = "" if self.setting in ("", "bundled") else str(Path(self.setting).parent)
        file, _ = QFileDialog.getOpenFileName(self, "Open a dataset", start, FILE_FILTER)
        if file:
            self.open_path(file)
