"""The job exactly as the worker will get it, as JSON and as TOML, read-only.

Seeing the file is the quickest way to check what a form will do, and to copy a
job into a script or the CLI (``lora-studio train --job``).
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QTabWidget, QWidget

from studio.core import job_toml


class JobPreview(QTabWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.json_view = self._view()
        self.toml_view = self._view()
        self.addTab(self.json_view, "JSON")
        self.addTab(self.toml_view, "TOML")
        self.setToolTip("The job file the worker will run (read-only). Save it to rerun it later "
                        "or from the command line: lora-studio train --job FILE")

    def set_data(self, data: dict[str, Any]) -> None:
        self._show(self.json_view, json.dumps(data, indent=2, ensure_ascii=False))
        try:
            toml = job_toml.dumps(data)
        except TypeError as exc:  # a value TOML can't hold (the JSON tab still shows it)
            toml = f"# cannot be written as TOML: {exc}"
        self._show(self.toml_view, toml)

    def json_text(self) -> str:
        return self.json_view.toPlainText()

    def toml_text(self) -> str:
        return self.toml_view.toPlainText()

    @staticmethod
    def _view() -> QPlainTextEdit:
        view = QPlainTextEdit()
        view.setReadOnly(True)
        view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        return view

    @staticmethod
    def _show(view: QPlainTextEdit, text: str) -> None:
        if view.toPlainText() == text:
            return
        bar = view.verticalScrollBar()
        position = bar.value()  # keep the reader's place while the form changes
        view.setPlainText(text)
        bar.setValue(position)
