"""The rows of a loaded dataset: the first examples as normalised, and every row that was skipped.

Showing the normalised form (not the raw JSON) answers "did it read my file the way
I meant?"; listing skipped rows by line and field says exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QListWidget,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.chat_segments import call_summary, clip, tools_summary
from studio.core.datasets import Example, LoadedDataset, Message

PREVIEW_ROWS = 50
MAX_ISSUES_SHOWN = 1000  # a file with 100 000 bad rows needs the pattern, not every line
_SUMMARY_CHARS = 240
_TOOLTIP_CHARS = 1500
_REASONING_CHARS = 80  # reasoning is shown briefly: that the turn has it, and how it starts


def summarize(example: Example, limit: int = _SUMMARY_CHARS) -> str:
    """One line: 'user: … → assistant calls f({…}) → tool result: … → assistant: …', 'prompt → completion',
    or the text; a row's tool definitions first, by name."""
    if example.kind == "chat":
        text = _tools(example) + _turns(example.messages)
    elif example.kind == "completion":
        text = f"{example.prompt}  →  {example.completion}"
    elif example.kind == "preference":
        text = (f"{_tools(example)}{_turns(example.messages)}  →  chosen: {_turns(example.chosen)}  |  "
                f"rejected: {_turns(example.rejected)}")
    elif example.kind == "kto":
        verdict = "desirable" if example.desirable else "undesirable"
        text = f"{_tools(example)}{_turns(example.messages)}  →  {verdict}: {_turns(example.response)}"
    else:
        text = example.text
    return clip(text, limit)


def _tools(example: Example, end: str = "  |  ") -> str:
    """The row's tool definitions by name ("" for a row without), as `datasets inspect` shows them."""
    return f"tools: {tools_summary(example.tools)}{end}" if example.tools else ""


def _turns(messages: Sequence[Message], between: str = "  →  ", within: str | None = None) -> str:
    """The turns' lines, turns apart by ``between`` and a turn's own lines by ``within`` (default the same)."""
    return between.join((between if within is None else within).join(_turn_lines(m)) for m in messages)


def _turn_lines(message: Message) -> list[str]:
    """One turn as `datasets inspect` shows it: its reasoning (cut short), its text, and each tool call
    as ``name({json})``; a tool's result says so, with the tool's name (or call id) when the row gives it.
    An assistant turn that only calls tools has no text line: it is not an empty reply."""
    role = f"tool result{f' ({message.name})' if message.name else ''}" if message.role == "tool" else message.role
    lines = [f"{role} thinking: {clip(message.reasoning, _REASONING_CHARS)}"] if message.reasoning else []
    if message.content or not message.tool_calls:
        lines.append(f"{role}: {message.content}")
    return lines + [f"{role} calls {call_summary(call.name, call.arguments)}" for call in message.tool_calls]


def _full_text(example: Example) -> str:
    if example.kind == "chat":
        text = _tools(example, "\n\n") + _turns(example.messages, "\n\n", "\n")
    elif example.kind == "completion":
        text = f"[prompt]\n{example.prompt}\n\n[completion]\n{example.completion}"
    elif example.kind in ("preference", "kto"):
        replies = ((("chosen", example.chosen), ("rejected", example.rejected)) if example.kind == "preference"
                   else (("desirable" if example.desirable else "undesirable", example.response),))
        text = "\n\n".join([_tools(example, "\n\n") + _turns(example.messages, "\n\n", "\n")]
                             + [f"[{label}]\n" + _turns(turns, "\n") for label, turns in replies])
    else:
        text = example.text
    return text if len(text) <= _TOOLTIP_CHARS else text[:_TOOLTIP_CHARS] + "…"


class DatasetRows(QSplitter):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Vertical, parent)
        self.preview_table = QTableWidget(0, 3)
        self.preview_table.setHorizontalHeaderLabels(("Row", "Kind", "Content"))
        self.preview_table.setToolTip("The first examples after normalisation; hover a row for all of it")
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview_table.setAlternatingRowColors(True)
        self.preview_table.setWordWrap(False)
        self.preview_table.verticalHeader().hide()
        self.preview_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        heads = self.preview_table.horizontalHeader()
        heads.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        heads.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.issues_list = QListWidget()
        self.issues_list.setToolTip("Rows left out of training: where they are, which field, and why")
        self.issues_list.setWordWrap(True)
        self.preview_box = self._box("Preview", "The first examples as the trainer will read them", self.preview_table)
        self.issues_box = self._box("Bad rows", "Rows that were skipped; fix them in the file and reopen it",
                                    self.issues_list)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)
        self.setSizes([500, 110])
        self.setChildrenCollapsible(False)
        self.clear()

    def _box(self, title: str, tip: str, widget: QWidget) -> QGroupBox:
        box = QGroupBox(title)
        box.setToolTip(tip)
        QVBoxLayout(box).addWidget(widget)
        self.addWidget(box)
        return box

    def clear(self) -> None:
        self.preview_table.setRowCount(0)
        self.issues_list.clear()
        self.preview_box.setTitle("Preview")
        self.issues_box.setTitle("Bad rows")

    def show_dataset(self, dataset: LoadedDataset) -> None:
        shown = dataset.examples[:PREVIEW_ROWS]
        self.preview_table.setRowCount(len(shown))
        for row, example in enumerate(shown):
            tip = _full_text(example)
            for column, text in enumerate((example.source, example.kind, summarize(example))):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                self.preview_table.setItem(row, column, item)
        total = len(dataset.examples)
        self.preview_box.setTitle(f"Preview (first {len(shown)} of {total} examples)" if total > len(shown)
                                  else f"Preview ({total} examples)")
        self.issues_list.clear()
        for issue in dataset.issues[:MAX_ISSUES_SHOWN]:
            self.issues_list.addItem(str(issue))
        more = len(dataset.issues) - MAX_ISSUES_SHOWN
        if more > 0:
            self.issues_list.addItem(f"… and {more} more")
        if not dataset.issues:
            self.issues_list.addItem("None: every row can be used.")
        self.issues_box.setTitle(f"Bad rows ({len(dataset.issues)})")

    def issue_texts(self) -> list[str]:
        return [self.issues_list.item(i).text() for i in range(self.issues_list.count())]

    def preview_cell(self, row: int, column: int) -> str:
        item = self.preview_table.item(row, column)
        return item.text() if item else ""
