"""What the Runs and Library tables share: row selection, quiet styling, sorting by value."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class SortKeyItem(QTableWidgetItem):
    """Shows text, sorts by a key (numbers as numbers); empty cells sort last."""

    def __init__(self, text: str, key: object):
        super().__init__(text)
        self.setData(SORT_ROLE, key)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is None or theirs is None:
            return (mine is None) < (theirs is None)
        try:
            return mine < theirs
        except TypeError:
            return str(mine) < str(theirs)


def style_list_table(table: QTableWidget, columns: tuple[str, ...], stretch: str) -> None:
    """Whole-row, multi-row selection, read-only, compact rows, columns sized to content."""
    table.setHorizontalHeaderLabels(columns)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(26)
    header = table.horizontalHeader()
    header.setHighlightSections(False)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(columns.index(stretch), QHeaderView.ResizeMode.Stretch)
    table.setSortingEnabled(True)
