"""The Library page's table: one row per adapter version, sortable, numbers as numbers.

The stage an adapter was trained with (SFT, DPO…) is its card's, which the index doesn't keep: the page
reads it with the entries, off the GUI thread. A preference adapter's perplexity (exp of a preference
loss) means nothing and is shown as "—"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QTableWidget,
    QWidget,
)

from studio.core.library import Entry
from studio.core.stage_names import is_preference, stage_tag
from studio.gui.widgets.list_table import SortKeyItem, style_list_table

COLUMNS = ("Name", "Version", "Base model", "Method", "Stage", "Rank", "Dataset", "Loss", "Perplexity", "Size",
           "Created", "Tags")
STAGE_TIP = ("What the adapter learned from: SFT the replies of its dataset, DPO, ORPO, SimPO or KTO which reply to "
             "prefer (its perplexity, exp of a preference loss, means nothing and is not shown)")
REF_ROLE = Qt.ItemDataRole.UserRole + 2


class LibraryTable(QTableWidget):
    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        style_list_table(self, COLUMNS, stretch="Dataset")
        # The name is what a row is known by: its column always takes the longest name whole
        # (the view scrolls sideways before a name is cut).
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeaderItem(COLUMNS.index("Stage")).setToolTip(STAGE_TIP)
        self.sortItems(0, Qt.SortOrder.AscendingOrder)
        self.cellDoubleClicked.connect(lambda row, _c: self._emit_open(row))

    def set_entries(self, entries: list[Entry], stages: dict[str, str] | None = None) -> None:
        """Show ``entries``; ``stages``: each ref's training stage (its card's; "" for a merged or imported one)."""
        selected = set(self.selected_refs())
        self.setSortingEnabled(False)
        self.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            for column, (text, key) in enumerate(_cells(entry, (stages or {}).get(entry.ref, ""))):
                item = SortKeyItem(text, key)
                item.setData(REF_ROLE, entry.ref)
                if column == 0:  # the whole name, should a narrow column ever elide it, and where it lies
                    item.setToolTip(f"{entry.ref}\n{entry.path}")
                self.setItem(row, column, item)
        self.setSortingEnabled(True)
        self.clearSelection()
        for row in range(self.rowCount()):
            if self.ref_at(row) in selected:
                self.selectRow(row)

    def ref_at(self, row: int) -> str:
        item = self.item(row, 0)
        return str(item.data(REF_ROLE)) if item is not None else ""

    def selected_refs(self) -> list[str]:
        rows = sorted({index.row() for index in self.selectedIndexes()})
        return [self.ref_at(row) for row in rows]

    def select_ref(self, ref: str) -> bool:
        for row in range(self.rowCount()):
            if self.ref_at(row) == ref:
                self.selectRow(row)
                return True
        return False

    def _emit_open(self, row: int) -> None:
        self.open_requested.emit(self.ref_at(row))


def _cells(e: Entry, stage: str) -> list[tuple[str, object]]:
    dataset = Path(e.dataset).name if e.dataset and e.dataset != "bundled" else (e.dataset or "—")
    perplexity = None if is_preference(stage) else e.perplexity
    return [
        (e.name, e.name), (f"v{e.version}", e.version), (e.base_name or Path(e.base_id).name or "—", e.base_name),
        (e.method, e.method), (stage_tag(stage), stage), (str(e.rank) if e.rank else "—", e.rank), (dataset, dataset),
        (f"{e.train_loss:.4f}" if e.train_loss is not None else "—", e.train_loss),
        (f"{perplexity:.2f}" if perplexity is not None else "—", perplexity),
        (_size(e.size_bytes), e.size_bytes), (e.created[:16].replace("T", " "), e.created),
        (", ".join(e.tags), ", ".join(e.tags)),
    ]


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"
