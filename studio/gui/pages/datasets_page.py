"""Datasets page: open a file, see what the trainer will see, and what is wrong with it.

Loading checks every row (bad ones are listed with line and field, not hidden), the
split and truncation numbers follow the Train page's settings, and one example is
drawn through the selected model's chat template with the trained tokens marked.
The file is read the way the job will read it (the same column mapping, text split and
placeholder values as the CLI and the worker), every bad row listed, and core's bad-row
rule (``rows_verdict``, as ``datasets inspect`` asks it) says whether training would skip
them or refuse the file: a refused file is still shown, row by row, but not chosen.
Reading the file and counting tokens run on the thread pool; a result that arrives
after a newer request (another file, another model) is dropped.
"""

from __future__ import annotations

import copy
import dataclasses
import html
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QShowEvent
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
    SUFFIXES,
    DatasetError,
    LoadedDataset,
    split_sizes,
)
from studio.core.resources import bundled_dataset_path, resolve_dataset_path
from studio.gui.app_state import AppState, reading_of
from studio.gui.background import run_in_background
from studio.gui.dataset_analysis import TokenReport, measure_tokens
from studio.gui.dataset_page_load import PageLoad, load_for_page
from studio.gui.tokenizer_extraction import TokenizerExtraction
from studio.gui.widgets.column_mapping_dialog import ColumnMappingDialog
from studio.gui.widgets.dataset_rows import DatasetRows
from studio.gui.widgets.example_view import ExampleView
from studio.gui.widgets.field_editors import field_info
from studio.gui.widgets.page_title import page_title
from studio.gui.widgets.placeholder_dialog import PlaceholderDialog
from studio.gui.widgets.status_banner import StatusBanner
from studio.gui.widgets.token_histogram import TokenHistogram

FILE_NAME_WIDTH = 130  # pixels the file's name may take on the info line at the smallest window
FILE_FILTER = f"Datasets ({' '.join('*' + suffix for suffix in SUFFIXES)});;All files (*)"
TEXT_SPLITS = {"auto": "auto (from the file's shape)", "line": "one example per line",
               "paragraph": "paragraphs (blank-line separated)", "file": "the whole file"}


def _group(title: str, tip: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    box.setToolTip(tip)
    QVBoxLayout(box).addWidget(widget)
    return box


def _share(fraction: float) -> str:
    return f"{fraction * 100:g}%"


class DatasetsPage(QWidget):
    dataset_loaded = Signal(object)  # LoadedDataset (also of a file training would refuse: its rows are shown)
    load_failed = Signal(str)  # the message shown
    tokens_measured = Signal()  # histogram and example are up to date (or say why not)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.dataset: LoadedDataset | None = None
        self.loaded: PageLoad | None = None  # the last load that landed
        self.report: TokenReport | None = None
        self.setting = ""  # "bundled" or the file path, as state.set_dataset gets it
        # How the file is read (DatasetSettings' columns, text_split, variables), chosen with it.
        self.columns: dict[str, str] = {}
        self.text_split = "auto"
        self.variables: dict[str, str] = {}
        self.mapping_dialog: ColumnMappingDialog | None = None
        self.tokenizers = TokenizerExtraction(self)  # a .gguf model's tokenizer, for token lengths
        self.tokenizers.finished.connect(self._on_tokenizer_extracted)
        self._offer_mapping = False  # a table that can't be read as it is gets the dialog, once
        self._rule: tuple[str, float] | None = None  # the job's bad-row rule of the last load asked for
        self._load_generation = 0
        self._token_generation = 0
        self._pending = 0
        self._loading = False
        self._build()
        state.model_changed.connect(self._on_model_changed)
        state.job_changed.connect(self._on_job_changed)
        state.dataset_changed.connect(self._on_dataset_changed)
        self.open_path(state.dataset_path, state.dataset_format, state.dataset_reading)

    # -- public ---------------------------------------------------------------------------------

    def open_path(self, path: str | Path, fmt: str = "auto", reading: Mapping[str, Any] | None = None) -> None:
        """Load a dataset file ("bundled" for the sample) in the background. ``reading``: its columns,
        text_split and variables; None for a file just opened, read by its own column names (the
        placeholder values are kept: they are the user's, not the file's)."""
        resolved = resolve_dataset_path(str(path))
        self.setting = "bundled" if resolved == bundled_dataset_path() else str(resolved)
        chosen = reading_of({"variables": self.variables} if reading is None else reading)
        self.columns, self.text_split, self.variables = chosen["columns"], chosen["text_split"], chosen["variables"]
        self._offer_mapping = fmt == "auto" and not self.columns
        self.loaded = None  # another file's rows and columns
        self._show_choice(fmt)
        shown = "Captain Lora sample (bundled)" if self.setting == "bundled" else resolved.name
        # A long name is elided (the tooltip has the whole path) rather than push the counts over the format box.
        self.file_label.setText(self.file_label.fontMetrics().elidedText(shown, Qt.TextElideMode.ElideMiddle,
                                                                         FILE_NAME_WIDTH))
        self.file_label.setToolTip(str(resolved))
        self._load()

    def set_columns(self, fmt: str, columns: Mapping[str, str]) -> None:
        """Read the file as ``fmt`` with these field -> column renames (the dialog's OK); "auto"
        and none: by its own column names again."""
        self.columns = dict(columns)
        self._show_choice(fmt)
        self._load()

    def clear_columns(self) -> None:
        self.set_columns("auto", {})

    def set_text_split(self, split: str) -> None:
        """How a .txt file becomes examples: auto, line, paragraph or file."""
        self.text_split = split
        self._show_choice(self.selected_format())
        self._load()

    def open_mapping_dialog(self) -> ColumnMappingDialog | None:
        """The column mapping dialog for the open table (None while there is none to map)."""
        if self.mapping_dialog is not None:
            self.mapping_dialog.raise_()
            return self.mapping_dialog
        if self.loaded is None or not self.loaded.columns:
            return None
        fmt = self.selected_format()
        fmt = self.dataset.format if fmt == "auto" and self.dataset is not None else fmt
        dialog = ColumnMappingDialog(resolve_dataset_path(self.setting).name, self.loaded.sample,
                                     self.loaded.columns, fmt=fmt, mapping=self.columns, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: self.set_columns(dialog.chosen_format(), dialog.mapping()))
        dialog.finished.connect(self._on_mapping_dialog_closed)
        self.mapping_dialog = dialog
        dialog.resize(dialog.sizeHint().expandedTo(QSize(640, 480)).boundedTo(self.window().size() * 0.9))
        dialog.open()
        return dialog

    def open_placeholder_dialog(self) -> PlaceholderDialog:
        """Values for the data's {{placeholders}}; OK reads the file again with them."""
        names = self.dataset.placeholders if self.dataset is not None else []
        dialog = PlaceholderDialog(names, self.variables, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: self.set_variables(dialog.values()))
        dialog.open()
        return dialog

    def set_variables(self, values: Mapping[str, str]) -> None:
        """Fill the data's placeholders with these values (the job's dataset.variables)."""
        self.variables = dict(values)
        self._load()

    def set_max_length(self, tokens: int) -> None:
        """The Train form's max length (the histogram's offer to fit 95% of the rows)."""
        job = copy.deepcopy(self.state.job)
        job.training.max_length = tokens
        self.state.set_job(job)

    def reading(self) -> dict[str, Any]:
        """How the open file is read: columns, text_split and variables, as DatasetSettings has them."""
        return {"columns": dict(self.columns), "text_split": self.text_split, "variables": dict(self.variables)}

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
        open_button.setToolTip("Open a .json, .jsonl, .csv, .parquet, .arrow or .txt file")
        open_button.clicked.connect(self._choose_file)
        folder_button = QPushButton("Folder…")
        folder_button.setToolTip("Open a dataset folder: a Hugging Face save_to_disk folder, or a Hub download "
                                 "of parquet/arrow/jsonl shards")
        folder_button.clicked.connect(self._choose_folder)
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
        header.addWidget(folder_button, 0, Qt.AlignmentFlag.AlignBottom)
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
        self.format_combo.setMinimumWidth(140)
        self.format_combo.currentIndexChanged.connect(self._load)
        self.map_button = QPushButton("Map columns…")
        self.map_button.setToolTip("Say which column of the file holds each field of a format "
                                   "(e.g. question → instruction, answer → output)")
        self.map_button.clicked.connect(self.open_mapping_dialog)
        self.split_into_label = QLabel("Split text into:")
        self.split_combo = QComboBox()
        for value, label in TEXT_SPLITS.items():
            self.split_combo.addItem(label, value)
        self.split_combo.setToolTip(field_info("dataset.text_split")[1])
        self.split_combo.currentIndexChanged.connect(lambda: self.set_text_split(str(self.split_combo.currentData())))
        self.loading_label = QLabel("Loading…")
        self.loading_label.setToolTip("Reading and checking the file, or counting tokens")
        self.counts_label = QLabel()
        self.counts_label.setToolTip("Rows in the file, rows that can be trained on, and rows skipped as bad")
        self.split_label = QLabel()
        self.split_label.setToolTip("How the good rows split into training and evaluation "
                                    "(eval share and seed are set on the Train page)")
        info = QHBoxLayout()
        for widget in (QLabel("File:"), self.file_label, QLabel("   Format:"), self.format_combo, self.loading_label):
            info.addWidget(widget)
        info.addStretch(1)
        info.addWidget(self.counts_label)
        info.addWidget(QLabel("   "))
        info.addWidget(self.split_label)

        self.mapping_label = QLabel()
        self.mapping_label.setToolTip("The file's columns read as the format's fields (the job's dataset.columns)")
        self.mapping_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.placeholders_button = QPushButton("Placeholders…")
        self.placeholders_button.setToolTip("Values for the {{placeholders}} in the data (e.g. {{name}}), "
                                            "filled in before training")
        self.placeholders_button.clicked.connect(lambda: self.open_placeholder_dialog())
        self.placeholders_button.setVisible(False)
        self.clear_button = QPushButton("Clear mapping")
        self.clear_button.setToolTip("Read the file by its own column names again, detecting the format")
        self.clear_button.clicked.connect(self.clear_columns)
        # How the file is read: its own row, as the one above is full at the smallest window.
        reading = QHBoxLayout()
        for widget in (self.map_button, self.split_into_label, self.split_combo):
            reading.addWidget(widget)
        reading.addWidget(self.mapping_label)
        reading.addStretch(1)
        reading.addWidget(self.placeholders_button)
        reading.addWidget(self.clear_button)

        self.error_label = StatusBanner()  # why this file can't be used, or why training would refuse it
        self.error_label.action.setToolTip(self.map_button.toolTip())  # its one action is the mapping
        self.notice = StatusBanner()  # what training will leave out, placeholders without a value
        self.notice.action.setToolTip(self.placeholders_button.toolTip())  # its one action: placeholder values

        self.rows = DatasetRows()
        self.histogram = TokenHistogram()
        self.histogram.max_length_wanted.connect(self.set_max_length)
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
        layout.addLayout(reading)
        layout.addWidget(self.error_label)
        layout.addWidget(self.notice)
        layout.addWidget(body, 1)

    def _show_choice(self, fmt: str) -> None:
        """The format, text split and mapping in use, without reloading."""
        for combo, value in ((self.format_combo, fmt), (self.split_combo, self.text_split)):
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.blockSignals(False)
        is_text = self._is_text()
        self.map_button.setVisible(not is_text)
        self.split_into_label.setVisible(is_text)
        self.split_combo.setVisible(is_text)
        self.mapping_label.setVisible(not is_text)
        self.clear_button.setVisible(bool(self.columns) and not is_text)
        if self.columns:
            pairs = " · ".join(f"{field} ← <b>{html.escape(column)}</b>" for field, column in self.columns.items())
            self.mapping_label.setText(f"Columns read as fields: {pairs}")
        else:
            columns = self.loaded.columns if self.loaded is not None else []
            shown = ", ".join(html.escape(c) for c in columns[:6]) + (", …" if len(columns) > 6 else "")
            self.mapping_label.setText(f"Columns read by their own names ({shown})" if columns else "")

    def _is_text(self) -> bool:
        """Raw text (a .txt, or a folder of them): split into documents, no columns to map."""
        if resolve_dataset_path(self.setting).suffix.lower() == ".txt":
            return True
        sample = self.loaded.sample if self.loaded is not None else []
        return any(isinstance(r.data, str) and r.error is None for r in sample)

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> None:
        self._load_generation += 1
        self._token_generation += 1  # a count for the old file is stale too
        self._pending += 1
        self._loading = True
        self.loading_label.show()
        self.map_button.setEnabled(False)  # its rows come with the load
        self.state.set_token_stats(None)  # the old file's lengths are not this one's
        fmt = self.selected_format()
        self.format_combo.setItemText(0, "auto")
        settings = dataclasses.replace(self.state.job.dataset, path=self.setting, format=fmt, **self.reading())
        self._rule = (settings.on_bad_rows, settings.bad_rows_limit)
        run_in_background(load_for_page, settings, resolve_dataset_path(self.setting),
                          on_done=partial(self._on_loaded, self._load_generation, fmt),
                          on_error=partial(self._on_load_failed, self._load_generation))

    def _on_loaded(self, generation: int, fmt: str, loaded: PageLoad) -> None:
        self._done_one()
        if generation != self._load_generation:
            return
        self._loading = False
        self.loaded = loaded
        self._show_choice(fmt)  # a folder turns out to hold text, or a table
        self.map_button.setEnabled(bool(loaded.columns))
        offer, self._offer_mapping = self._offer_mapping and loaded.undetected, False
        dataset = loaded.dataset
        if dataset is None:
            self._show_unusable(loaded.error, offer)
            return
        self.dataset = dataset
        if fmt == "auto":
            self.format_combo.setItemText(0, f"auto: {dataset.format}")
        self.rows.show_dataset(dataset)
        good, bad = len(dataset.examples), len(dataset.issues)
        # Rows and bad ones only (good = rows - bad, in the tooltip): the line is full at 960 px.
        self.counts_label.setText(f"<b>{dataset.rows_total}</b> rows · <b>{bad}</b> bad")
        self.counts_label.setToolTip(f"{dataset.rows_total} rows in the file: {good} can be trained on, "
                                     f"{bad} skipped as bad")
        self._update_split()
        if loaded.refusal:  # shown, but not chosen: Start would only fail on it
            self.error_label.show_message("error", "Training would refuse this file, so it is not chosen "
                                                   "for training.", loaded.refusal)
            self._offer_mapping_action()
        else:
            self.error_label.clear()
            self.state.set_dataset(self.setting, fmt, self.reading())
        self._show_notes(loaded)
        self.dataset_loaded.emit(dataset)
        self._measure()

    def _on_load_failed(self, generation: int, error: BaseException) -> None:
        self._done_one()
        if generation != self._load_generation:
            return
        self._loading = False
        self.loaded = None
        self._offer_mapping = False
        if isinstance(error, DatasetError):
            message = str(error)
        else:  # e.g. a folder, a permission problem: one line, never a traceback
            message = f"{Path(self.setting).name}: cannot read: {error}"
        self._show_unusable(message, offer=False)

    def _show_unusable(self, message: str, offer: bool) -> None:
        self.dataset = None
        self.placeholders_button.setVisible(bool(self.variables))
        self.report = None
        self.error_label.show_message("error", "This file cannot be used.", message)
        self._offer_mapping_action()
        self.notice.clear()
        self.rows.clear()
        self.counts_label.setText("")
        self.split_label.setText("")
        self.histogram.show_message("No dataset loaded.")
        self.example_view.clear("No dataset loaded.")
        self.load_failed.emit(message)
        if offer and self.isVisible():
            self.open_mapping_dialog()  # a table whose format can't be told: say which column is which

    def _offer_mapping_action(self) -> None:
        if self.loaded is not None and self.loaded.columns:
            self.error_label.set_action("Map columns…", self.open_mapping_dialog, self.map_button.toolTip())

    def _show_notes(self, loaded: PageLoad) -> None:
        """What training will leave out, and the loader's warnings (placeholders without a value)."""
        dataset = loaded.dataset
        assert dataset is not None
        title = ""
        if dataset.rows_skipped and not loaded.refusal:
            title = (f"{dataset.rows_skipped:,} of {dataset.rows_total:,} rows will be left out of training "
                     f"(listed under Bad rows; up to {_share(loaded.rule[1])} may be).")
        self.placeholders_button.setVisible(bool(dataset.placeholders or self.variables))
        if not title and not dataset.warnings:
            if loaded.stage_note:
                self.notice.show_message("info", "Preference data", loaded.stage_note)
            else:
                self.notice.clear()
            return
        self.notice.show_message("warning", title or "Check before training:",
                                 "\n".join(f"• {warning}" for warning in (*dataset.warnings, loaded.stage_note)
                                            if warning))
        if any(name not in self.variables for name in dataset.placeholders):
            self.notice.set_action("Fill in placeholders…", self.open_placeholder_dialog,
                                   self.placeholders_button.toolTip())

    def _on_mapping_dialog_closed(self) -> None:
        self.mapping_dialog = None

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
        if report.stats is None and report.gguf_without_tokenizer is not None:
            self._extract_tokenizer_if_shown()
        elif report.stats is None:
            self.histogram.show_message(report.note)
        else:
            self.histogram.set_stats(report.stats, report.note)
            self.histogram.set_max_length(self.state.job.training.max_length)
        examples, template = self.dataset.examples, report.template

        def segments(index: int) -> tuple[str, list[tuple[str, bool]]]:
            return examples[index].source, template.segments(examples[index])

        self.example_view.set_source(len(examples), segments, f"Rendered with the {template.origin}.")
        self.tokens_measured.emit()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._extract_tokenizer_if_shown()

    def _extract_tokenizer_if_shown(self) -> None:
        """A .gguf model's tokenizer is extracted (seconds of a child process) once someone looks
        at the lengths, not for every page built in the background."""
        gguf = self.report.gguf_without_tokenizer if self.report is not None else None
        if gguf is None:
            return
        failed = self.tokenizers.failed.get(str(gguf))
        self.histogram.show_message(self.report.note if failed is None else f"Token lengths are unknown: {failed}")
        if self.isVisible() and self.tokenizers.start(gguf):
            self._pending += 1  # busy until the tokenizer is there and the lengths are counted
            self.loading_label.show()

    def _on_tokenizer_extracted(self, _gguf: str, error: str) -> None:
        self._done_one()
        if error:
            self.histogram.show_message(f"Token lengths are unknown: {error}")
            self.tokens_measured.emit()
        else:
            self._measure()  # the tokenizer is there now

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
        """Another page chose a dataset (e.g. Train loaded a job file): show that one, read its way."""
        reading = self.state.dataset_reading
        if (path, fmt, reading) != (self.setting, self.selected_format(), reading_of(self.reading())):
            self.open_path(path, fmt, reading)

    def _on_job_changed(self, _job: object) -> None:
        self._update_split()
        self.histogram.set_max_length(self.state.job.training.max_length)
        rule = (self.state.job.dataset.on_bad_rows, self.state.job.dataset.bad_rows_limit)
        if self._rule is not None and rule != self._rule:  # e.g. a job file that skips more: judge again
            self._load()

    def _choose_file(self) -> None:
        start = "" if self.setting in ("", "bundled") else str(Path(self.setting).parent)
        file, _ = QFileDialog.getOpenFileName(self, "Open a dataset", start, FILE_FILTER)
        if file:
            self.open_path(file)

    def _choose_folder(self) -> None:
        start = "" if self.setting in ("", "bundled") else str(Path(self.setting).parent)
        folder = QFileDialog.getExistingDirectory(self, "Open a dataset folder", start)
        if folder:
            self.open_path(folder)
