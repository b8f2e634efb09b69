"""Short generations made during training, newest first: step, prompt → text."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from studio.core import protocol

MAX_SAMPLES = 200


class SamplesList(QTreeWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Step", "Prompt → sample"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def add_events(self, events: Iterable[protocol.Event]) -> None:
        items = []
        for event in events:
            if event.type != "sample":
                continue
            prompt, text = _one_line(event.prompt), _one_line(event.text)
            who = f"[{event.adapter}] " if event.adapter else ""
            item = QTreeWidgetItem([str(event.step), f"{who}{prompt}  →  {text}"])
            item.setToolTip(1, f"{who}{event.prompt}\n\n{event.text}")
            items.append(item)
        if not items:
            return
        items = items[-MAX_SAMPLES:]
        self.insertTopLevelItems(0, items[::-1])
        while self.topLevelItemCount() > MAX_SAMPLES:
            self.takeTopLevelItem(self.topLevelItemCount() - 1)

    def count(self) -> int:
        return self.topLevelItemCount()


def _one_line(value: object) -> str:
    return " ".join(str(value).split())[:300]
