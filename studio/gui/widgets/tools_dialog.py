"""The tool definitions a Compare or Playground prompt may call, as JSON, checked as you type.

An adapter trained on tool use was taught with the tool list in its prompt; asked
without it, it has nothing to call. The dialog takes the list in the shapes datasets
and APIs write it (OpenAI ``{"type": "function", "function": {...}}`` or bare
functions), reads it with the dataset reader's own rule (core's ``tool_definitions``),
and can take the tools of the dataset chosen for training.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.chat_segments import tools_summary  # the words on the button that opens the dialog
from studio.core.datasets import DatasetError, tool_definitions
from studio.gui.widgets.issue_list import RED

Tools = tuple[dict[str, Any], ...]


class ToolsDialog(QDialog):
    def __init__(self, tools: Sequence[dict[str, Any]], dataset_tools: Callable[[], Tools] | None = None,
                 parent: QWidget | None = None):
        """``dataset_tools``: reads the tools of the dataset chosen for training (None: no dataset)."""
        super().__init__(parent)
        self.setWindowTitle("Tools the prompt may call")
        self._dataset_tools = dataset_tools
        self._tools: Tools = tuple(tools)
        self.editor = QPlainTextEdit()
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setPlaceholderText('[{"type": "function", "function": {"name": "get_weather", '
                                       '"parameters": {...}}}]')
        self.editor.setPlainText(json.dumps(list(tools), indent=2, ensure_ascii=False) if tools else "")
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.from_dataset = QPushButton("Use the dataset's tools")
        self.from_dataset.setToolTip("The tools of the first rows of the dataset chosen on the Datasets page")
        self.from_dataset.setEnabled(dataset_tools is not None)
        self.from_dataset.clicked.connect(self._use_dataset_tools)
        clear = QPushButton("No tools")
        clear.setToolTip("Ask without tool definitions")
        clear.clicked.connect(self.editor.clear)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setToolTip(
            "Send these tool definitions with every prompt (possible once the list reads)")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Close, keeping the tools set before")
        self.buttons.addButton(self.from_dataset, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(clear, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        intro = QLabel("A JSON list of tool definitions (OpenAI shape, or bare functions with a name and "
                       "parameters). They are written into each prompt the way training wrote a dataset's tools.")
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.verdict)
        layout.addWidget(self.buttons)
        self.editor.textChanged.connect(self._check)
        self._check()

    def tools(self) -> Tools:
        """The definitions as the dialog last read them (valid whenever OK could be pressed)."""
        return self._tools

    def _check(self) -> None:
        text = self.editor.toPlainText().strip()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            self._tools = tool_definitions(text, file="the tools") if text else ()
        except DatasetError as error:
            self.verdict.setStyleSheet(f"color: {RED};")
            self.verdict.setText(str(error))
            ok.setEnabled(False)
            return
        self.verdict.setStyleSheet("")
        count = len(self._tools)
        self.verdict.setText(f"{count} tool{'s' if count != 1 else ''}: {tools_summary(self._tools)}" if count
                             else "No tools: prompts are asked without tool definitions.")
        ok.setEnabled(True)

    def _use_dataset_tools(self) -> None:
        assert self._dataset_tools is not None
        try:
            found = self._dataset_tools()
        except (DatasetError, OSError) as error:
            self.verdict.setStyleSheet(f"color: {RED};")
            self.verdict.setText(f"Cannot read the dataset's tools: {error}")
            return
        if not found:
            self.verdict.setStyleSheet(f"color: {RED};")
            self.verdict.setText("The dataset's first rows define no tools.")
            return
        self.editor.setPlainText(json.dumps(list(found), indent=2, ensure_ascii=False))
