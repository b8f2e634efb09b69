"""A table column of notes, cut where each note's words matter least.

The Queue and Sweeps pages' Run / note column holds two kinds of text. A run folder's name
(20261205-142823-bundled-lr-rank-trial-5-39d9) or a message that starts with a path differs at its
end, so the view cuts it in the middle. A sentence ("pruned by the sweep at step 4: eval_loss 3.468
above the median of earlier trials at that step, 2.225") is read from its start: cut in the middle
at 960 px it read "pruned by the swee…t that step, 2.225", the step lost. A sentence is cut at its
end instead; the cell's tooltip has it whole.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTableWidgetItem

SENTENCE_ROLE = Qt.ItemDataRole.UserRole + 7


def is_sentence(text: str) -> bool:
    """Words to read from the start: not a run folder's name (no space) and not a path first."""
    first = text.split(" ", 1)[0]
    return " " in text.strip() and "/" not in first and "\\" not in first and not first.startswith("~")


def mark_note(item: QTableWidgetItem, is_message: bool) -> None:
    """Tell the delegate how to cut ``item``: a message that is a sentence at its end."""
    item.setData(SENTENCE_ROLE, bool(is_message and is_sentence(item.text())))


class NoteDelegate(QStyledItemDelegate):
    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        if index.data(SENTENCE_ROLE):
            option.textElideMode = Qt.TextElideMode.ElideRight
