"""The table of runs: name, coloured status, method, stage, model, dataset, steps, losses, duration,
created, id. The name (the adapter a run made, or the adapters it used) comes first: two
runs' ids tell them apart only by their clock time.

Refilled in place on every refresh, keeping the selection and the sort order, and
only when something changed, so a refresh every few seconds never flickers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QHeaderView,
    QTableWidget,
    QWidget,
)

from studio.core.outputs import TrainMetrics
from studio.core.runs import RunSummary
from studio.core.stage_names import stage_tag
from studio.gui.widgets.list_table import SortKeyItem, style_list_table
from studio.gui.widgets.metric_chart import colours
from studio.gui.widgets.run_header import duration

COLUMNS = ("Name", "Status", "Method", "Stage", "Model", "Dataset", "Steps", "Final loss", "Eval loss", "Peak GPU (est.)",
           "Duration", "Created", "Run")
RIGHT_ALIGNED = ("Steps", "Final loss", "Eval loss", "Peak GPU (est.)")
HEADER_TIPS = {
    "Name": "The adapter the run made (its library version), or the adapters an eval, merge or compare run used",
    "Status": "running, done, stopped (saved early), failed or cancelled; hover a cell for the message",
    "Method": "LoRA variant of a training run (lora, qlora, +dora…), or the job's kind",
    "Stage": "What a training run learned from: SFT the replies, DPO, ORPO, SimPO or KTO which reply to prefer",
    "Model": "The base model",
    "Dataset": "The dataset file the run read (hover a cell for its path)",
    "Steps": "Optimizer steps done / planned",
    "Final loss": "The last training loss",
    "Eval loss": "The last loss on the held-out eval split",
    "Peak GPU (est.)": "Measured peak GPU memory, with the estimate made before the run",
    "Duration": "First event to last",
    "Created": "When the worker started",
    "Run": "The run folder's name under the runs folder",
}
STATUS_COLOUR = {"done": 2, "running": 0, "stopped": 5, "failed": 3, "cancelled": None}  # chart colour index
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
NAME_MAX_WIDTH = 260  # an eval of four adapters has a long name: elided here, whole in its tooltip


@dataclass
class RunRow:
    summary: RunSummary
    duration_s: float | None  # first to last event
    stage: str = "sft"  # a training run's job's training.stage


class RunsTable(QTableWidget):
    open_requested = Signal(Path)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        style_list_table(self, COLUMNS, stretch="Run")
        self.horizontalHeader().setSectionResizeMode(COLUMNS.index("Name"), QHeaderView.ResizeMode.Interactive)
        for index, title in enumerate(COLUMNS):
            self.horizontalHeaderItem(index).setToolTip(HEADER_TIPS[title])
        self.sortItems(COLUMNS.index("Created"), Qt.SortOrder.DescendingOrder)
        self.cellDoubleClicked.connect(lambda row, _col: self._open_row(row))
        self._shown: list[tuple] = []
        self.rows: dict[Path, RunRow] = {}

    def set_runs(self, rows: list[RunRow]) -> bool:
        """Show ``rows``; returns False (and touches nothing) when nothing changed."""
        cells = [self._cells(row) for row in rows]
        if cells == self._shown:
            return False
        self._shown = cells
        self.rows = {row.summary.path: row for row in rows}
        selected = set(self.selected_paths())
        current = self.current_path()
        self.setSortingEnabled(False)
        self.setRowCount(len(rows))
        bold = QFont(self.font())
        bold.setBold(True)
        palette = colours()
        for r, (row, values) in enumerate(zip(rows, cells, strict=True)):
            for c, (text, key) in enumerate(values):
                item = SortKeyItem(text, key)
                item.setData(PATH_ROLE, str(row.summary.path))
                if COLUMNS[c] in RIGHT_ALIGNED:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
            status = self.item(r, COLUMNS.index("Status"))
            index = STATUS_COLOUR.get(row.summary.status)
            status.setForeground(QColor("#8a8f98" if index is None else palette[index]))
            status.setFont(bold)
            tip = row.summary.message or row.summary.status
            status.setToolTip(tip)
            self.item(r, COLUMNS.index("Name")).setToolTip(f"{row.summary.name or 'no name'}\n{row.summary.path}")
            self.item(r, COLUMNS.index("Run")).setToolTip(str(row.summary.path))
            self.item(r, COLUMNS.index("Model")).setToolTip(row.summary.model)
            self.item(r, COLUMNS.index("Dataset")).setToolTip(row.summary.dataset)
        self.setSortingEnabled(True)
        name = COLUMNS.index("Name")
        self.resizeColumnToContents(name)
        self.setColumnWidth(name, min(self.columnWidth(name), NAME_MAX_WIDTH))
        self._reselect(selected, current)
        return True

    def row_of(self, run_dir: Path) -> int | None:
        """The row showing ``run_dir`` (rows move as the table sorts)."""
        return next((r for r in range(self.rowCount()) if Path(self.item(r, 0).data(PATH_ROLE)) == Path(run_dir)),
                    None)

    def text(self, row: int, column: str) -> str:
        """The text of one cell, by its column's title."""
        item = self.item(row, COLUMNS.index(column))
        return item.text() if item is not None else ""

    def selected_paths(self) -> list[Path]:
        rows = sorted({index.row() for index in self.selectedIndexes()})
        return [Path(self.item(r, 0).data(PATH_ROLE)) for r in rows if self.item(r, 0) is not None]

    def current_path(self) -> Path | None:
        item = self.item(self.currentRow(), 0) if self.currentRow() >= 0 else None
        return Path(item.data(PATH_ROLE)) if item is not None else None

    def select_paths(self, paths: list[Path]) -> None:
        self._reselect({Path(p) for p in paths}, Path(paths[0]) if paths else None)

    def _reselect(self, selected: set[Path], current: Path | None) -> None:
        self.clearSelection()
        model, selection = self.model(), self.selectionModel()
        for r in range(self.rowCount()):
            path = Path(self.item(r, 0).data(PATH_ROLE))
            if path in selected:
                selection.select(model.index(r, 0), selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
            if path == current:
                selection.setCurrentIndex(model.index(r, 0), selection.SelectionFlag.NoUpdate)

    def _open_row(self, row: int) -> None:
        item = self.item(row, 0)
        if item is not None:
            self.open_requested.emit(Path(item.data(PATH_ROLE)))

    @staticmethod
    def _cells(row: RunRow) -> tuple:
        s = row.summary
        model = Path(s.model).name if s.model not in ("", "bundled") else (s.model or "—")
        dataset = Path(s.dataset).name if s.dataset else "—"
        steps = f"{s.step:,} / {s.total_steps:,}" if s.total_steps else (f"{s.step:,}" if s.step else "—")
        metrics = s.trained.metrics if s.trained is not None else TrainMetrics()
        return (
            (s.name or "—", s.name or None),
            (s.status, s.status),
            (s.method or "—", s.method),
            (stage_tag(row.stage), row.stage) if s.kind == "train" else ("—", ""),
            (model, model),
            (dataset, dataset),
            (steps, s.step),
            (_loss(s.final_loss), _number(s.final_loss)),
            (_loss(s.eval_loss), _number(s.eval_loss)),
            (peak_memory_text(metrics), _number(metrics.peak_memory_bytes)),
            (duration(row.duration_s) if row.duration_s is not None else "—", row.duration_s),
            (time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created)), s.created),
            (s.run_id, s.run_id),
        )


def peak_memory_text(metrics: TrainMetrics) -> str:
    """"18.9 GiB (est. 18.8)": the measured peak of a GPU run next to what was estimated."""
    measured, estimated = metrics.peak_memory_bytes, metrics.estimated_peak_bytes
    if measured is None:
        return "—"
    text = f"{measured / 2**30:.1f} GiB"
    return text + (f" (est. {estimated / 2**30:.1f})" if estimated is not None else "")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _loss(value: object) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:.4f}"
