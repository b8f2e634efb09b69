"""Models page: the base models on this machine, what they are, and which one to train.

Discovery (the bundled model, the Hugging Face cache, folders and .gguf files the
user added) reads only headers, but a big cache still takes a moment, so it runs
on the thread pool and the page says "Scanning…" meanwhile. Candidates that could
not be read are listed under the table with the reason, instead of vanishing.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.models import BUNDLED_ID, ModelInfo, discover_models_with_problems
from studio.core.paths import user_path
from studio.gui.app_state import AppState
from studio.gui.background import run_in_background
from studio.gui.widgets.hub_download import HubDownload
from studio.gui.widgets.model_details import SOURCE_LABELS, ModelDetails, short_count
from studio.gui.widgets.page_title import page_title

COLUMNS = ("Name", "Source", "Architecture", "Parameters", "Layers", "Hidden", "Quant / dtype")
COLUMN_TIPS = (
    "Model name (folder, hub repo or file name)",
    "Where it was found: bundled with the app, the Hugging Face cache, or a path you added",
    "Hugging Face model class",
    "Number of parameters, read from the weight headers",
    "Transformer blocks",
    "Hidden size (width of the residual stream)",
    "Quantization of the stored weights, or their dtype when not quantized",
)


def _cells(info: ModelInfo) -> tuple[str, ...]:
    return (
        info.name,
        SOURCE_LABELS.get(info.source, info.source),
        info.architecture,
        short_count(info.num_parameters),
        str(info.num_layers or "?"),
        str(info.hidden_size or "?"),
        info.quantization or info.dtype or "?",
    )


class ModelsPage(QWidget):
    scan_started = Signal()
    scan_finished = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.models: list[ModelInfo] = []
        self.problems: list[tuple[Path, str]] = []
        self._generation = 0
        self._select_under: Path | None = None
        self._build()
        self.scan()

    # -- public ---------------------------------------------------------------------------------

    def extra_paths(self) -> list[str]:
        return list(self.state.settings.model_folders)

    def add_path(self, path: str | Path) -> None:
        """Remember a model folder or .gguf file (or a folder holding several) and rescan."""
        path = Path(os.path.abspath(user_path(path)))
        self.state.add_model_folder(path)
        self._select_under = path
        self.scan()

    def remove_path(self, path: str | Path) -> None:
        self.state.remove_model_folder(path)
        self.scan()

    def scan(self) -> None:
        """Rediscover models in the background; ``scan_finished`` fires when the table is filled."""
        self._generation += 1
        generation = self._generation
        self.scanning_label.show()
        self.rescan_button.setEnabled(False)
        self.scan_started.emit()
        self.state.reload_settings()  # folders `lora-studio models --add` added meanwhile
        run_in_background(discover_models_with_problems, self.state.settings.model_paths(),
                          on_done=partial(self._on_scanned, generation),
                          on_error=partial(self._on_scan_failed, generation))

    def select_model(self, model_id: str) -> bool:
        for row, info in enumerate(self.models):
            if info.id == model_id:
                self.table.selectRow(row)
                return True
        return False

    def selected_model(self) -> ModelInfo | None:
        row = self.table.currentRow()
        return self.models[row] if 0 <= row < len(self.models) else None

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        title, subtitle = page_title("Models", "Base models on this machine: the bundled one, the Hugging Face cache, "
                          "and folders or .gguf files you add. The selected model is the one you train.")
        self.scanning_label = QLabel("Scanning…")
        self.scanning_label.setToolTip("Looking for models; the list fills in when the scan is done")
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setToolTip("Look for models again (after a download finished, say)")
        self.rescan_button.clicked.connect(self.scan)
        add_folder = QPushButton("Add folder…")
        add_folder.setToolTip("Add a Hugging Face model folder (with config.json), or a folder holding models")
        add_folder.clicked.connect(self._choose_folder)
        add_file = QPushButton("Add .gguf file…")
        add_file.setToolTip("Add a GGUF model file (llama.cpp format); it is converted on first use")
        add_file.clicked.connect(self._choose_gguf)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Forget the added path the selected model came from (no file is deleted)")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self._remove_selected)

        header = QHBoxLayout()
        heading = QVBoxLayout()
        heading.setSpacing(2)
        heading.addWidget(title)
        heading.addWidget(subtitle)
        header.addLayout(heading, 1)
        for widget in (self.scanning_label, self.rescan_button, add_folder, add_file, self.remove_button):
            header.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setToolTip("Models found; select one to use it for training")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        heads = self.table.horizontalHeader()
        heads.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        heads.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_selection)

        self.problems_list = QListWidget()
        self.problems_list.setToolTip("Candidates that could not be used, and why; right-click to forget a path")
        self.problems_list.setWordWrap(True)
        self.problems_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.problems_list.customContextMenuRequested.connect(self._problem_menu)
        self.problems_box = QGroupBox("Skipped while scanning")
        self.problems_box.setToolTip("Folders and files that look like models but cannot be read")
        box_layout = QVBoxLayout(self.problems_box)
        box_layout.addWidget(self.problems_list)
        self.problems_box.hide()

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.table)
        left.addWidget(self.problems_box)
        left.setStretchFactor(0, 4)
        left.setStretchFactor(1, 1)
        left.setSizes([480, 140])
        left.setChildrenCollapsible(False)
        self.details = ModelDetails()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([700, 360])
        splitter.setChildrenCollapsible(False)

        self.hub_download = HubDownload()
        self.hub_download.downloaded.connect(lambda _folder: self.scan())  # the cache is scanned: it shows up

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(14)
        layout.addLayout(header)
        layout.addWidget(self.hub_download)
        layout.addWidget(splitter, 1)

    # -- results --------------------------------------------------------------------------------

    def _on_scanned(self, generation: int, result: tuple[list[ModelInfo], list[tuple[Path, str]]]) -> None:
        if generation != self._generation:
            return  # an older scan finished after a newer one started
        self.models, self.problems = list(result[0]), list(result[1])
        self._fill_problems()
        keep = self.state.model.id if self.state.model else self.state.settings.last_model
        if self._select_under is not None:
            under = self._select_under
            keep = next((m.id for m in self.models if m.path == under or under in m.path.parents), keep)
            self._select_under = None
        self._fill_table()
        if not (keep and self.select_model(keep)) and not self.select_model(BUNDLED_ID) and self.models:
            self.table.selectRow(0)
        if not self.models:
            self.details.show_model(None)
        self._scan_done()

    def _on_scan_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        self.problems = [(Path("."), f"the scan failed: {error}")]
        self._fill_problems()
        self._scan_done()

    def _scan_done(self) -> None:
        self.scanning_label.hide()
        self.rescan_button.setEnabled(True)
        self.scan_finished.emit()

    def _fill_table(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.models))
        for row, info in enumerate(self.models):
            for column, text in enumerate(_cells(info)):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{info.name}\n{info.path}")
                if column >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.table.clearSelection()
        self.table.blockSignals(False)

    def _fill_problems(self) -> None:
        self.problems_list.clear()
        for path, reason in self.problems:
            item = QListWidgetItem(reason)
            item.setToolTip(reason)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.problems_list.addItem(item)
        self.problems_box.setTitle(f"Skipped while scanning ({len(self.problems)})")
        self.problems_box.setVisible(bool(self.problems))

    def _on_selection(self) -> None:
        info = self.selected_model()
        self.details.show_model(info)
        self.remove_button.setEnabled(self._added_path_of(info) is not None)
        if info is not None and info != self.state.model:
            self.state.set_model(info)

    # -- user actions ---------------------------------------------------------------------------

    def _added_path_of(self, info: ModelInfo | None) -> str | None:
        if info is None or info.source in ("bundled", "hf_cache"):
            return None
        for added in self.extra_paths():
            if Path(added) == info.path or Path(added) in info.path.parents:
                return added
        return None

    def _remove_selected(self) -> None:
        added = self._added_path_of(self.selected_model())
        if added is not None:
            self.remove_path(added)

    def _problem_menu(self, pos: QPoint) -> None:
        item = self.problems_list.itemAt(pos)
        path = item.data(Qt.ItemDataRole.UserRole) if item else None
        if path not in self.extra_paths():
            return
        menu = QMenu(self)
        menu.addAction("Forget this path", lambda: self.remove_path(path))
        menu.exec(self.problems_list.mapToGlobal(pos))

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if folder:
            self.add_path(folder)

    def _choose_gguf(self) -> None:
        file, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model file", "", "GGUF models (*.gguf)")
        if file:
            self.add_path(file)
