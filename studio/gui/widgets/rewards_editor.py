"""The Train page's GRPO rewards: one reward per line, as `lora-studio train --reward` takes them.

A line is ``kind:key=value,...`` (core.rewards.specs, the CLI's syntax), e.g.
``numeric_match:column=answer,weight=1``. "Add a reward…" writes a preset's line with its settings
to fill in, or a user file's after picking it. A user file is code that the worker will run: the
box says so, in words, whenever one is listed. Below it, the dataset columns each reward reads.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from studio.core.rewards import PRESETS, USER_FILE_KIND
from studio.core.rewards.specs import columns_by_reward, parse_spec_line, spec_line

ADD_PROMPT = "Add a reward…"
PLACEHOLDER = "numeric_match:column=answer\nregex:mode=search,pattern=<answer>\\d+</answer>,weight=0.5"
# What a new line of each kind starts with: the settings a person has to fill in.
TEMPLATES: dict[str, dict[str, Any]] = {
    "exact_match": {"column": "answer"}, "numeric_match": {"column": "answer"},
    "contains": {"words": ["word"]}, "excludes": {"words": ["word"]},
    "json_schema": {"schema": {"type": "object"}},
}


class RewardsEditor(QWidget):
    changed = Signal()
    problem_changed = Signal()

    def __init__(self, help_text: str, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.text = QPlainTextEdit()
        self.text.setObjectName("grpo.rewards.text")
        self.text.setPlaceholderText(PLACEHOLDER)
        self.text.setTabChangesFocus(True)
        # One reward a line, unwrapped: wrapped, "column=answer" broke mid-word and three rewards took
        # the whole box. Four lines and the horizontal scroll bar.
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFixedHeight(self.text.fontMetrics().lineSpacing() * 4 + 12
                                 + self.text.horizontalScrollBar().sizeHint().height())
        self.text.setToolTip(help_text + "\n\nOne reward per line: kind:key=value,… (as lora-studio train --reward).")
        self.setToolTip(self.text.toolTip())
        self.add = QComboBox()
        self.add.setObjectName("grpo.rewards.add")
        self.add.addItem(ADD_PROMPT, "")
        for kind, preset in PRESETS.items():
            self.add.addItem(kind, kind)
            self.add.setItemData(self.add.count() - 1, preset.description, 3)  # Qt.ToolTipRole
        self.add.addItem("your own reward.py…", USER_FILE_KIND)
        self.add.setToolTip("Add a line for a built-in reward, or for your own Python file")
        self.warning = QLabel()
        self.warning.setObjectName("userCodeWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("QLabel { color: #b8860b; }")
        self.columns = QLabel()
        self.columns.setObjectName("rewardColumns")
        self.columns.setWordWrap(True)
        self.columns.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        for widget in (self.text, self.add, self.warning, self.columns):
            layout.addWidget(widget)
        self._problem = ""
        self.text.textChanged.connect(self._on_text)
        self.add.activated.connect(self._on_add)
        self._on_text()

    # -- the field ----------------------------------------------------------

    def value(self) -> list[dict[str, Any]]:
        """The tables of the lines that parse (a line that doesn't is the field's problem)."""
        return self._parsed()[0]

    def set_value(self, value: Any) -> None:
        lines = [spec_line(spec) for spec in value or [] if isinstance(spec, dict)]
        if [line.strip() for line in self.text.toPlainText().splitlines() if line.strip()] != lines:
            self.text.setPlainText("\n".join(lines))

    def problem(self) -> str:
        return self._problem

    # -- inside -------------------------------------------------------------

    def _parsed(self) -> tuple[list[dict[str, Any]], str]:
        specs, problems = [], []
        for number, line in enumerate(self.text.toPlainText().splitlines(), 1):
            if not line.strip():
                continue
            try:
                specs.append(parse_spec_line(line))
            except ValueError as error:
                problems.append(f"line {number}: {error}")
        return specs, "; ".join(problems)

    def _on_text(self) -> None:
        specs, problem = self._parsed()
        files = [str(spec.get("path", "")) for spec in specs if spec.get("kind") == USER_FILE_KIND]
        self.warning.setText("⚠ Runs your own Python code in the training process, with your rights: "
                             + ", ".join(files) if files else "")
        self.warning.setVisible(bool(files))
        read = columns_by_reward(specs)
        self.columns.setText("Reads columns: " + "; ".join(
            f"{label.split(': ', 1)[1]} → {', '.join(columns) or 'none'}" for label, columns in read.items())
            if read else "")
        self.columns.setVisible(bool(read))
        if problem != self._problem:
            self._problem = problem
            self.problem_changed.emit()
        self.changed.emit()

    def _on_add(self, index: int) -> None:
        kind = self.add.itemData(index)
        self.add.setCurrentIndex(0)
        if not kind:
            return
        if kind == USER_FILE_KIND:
            path, _ = QFileDialog.getOpenFileName(self, "Your reward file", "", "Python (*.py)")
            if not path:
                return
            spec: dict[str, Any] = {"kind": kind, "path": path}
        else:
            preset = PRESETS[kind]
            defaults = {f.name: f.default for f in dataclasses.fields(preset)  # type: ignore[arg-type]
                        if f.default is not dataclasses.MISSING}
            spec = {"kind": kind, **{key: value for key, value in defaults.items() if key in ("mode", "unit")},
                    **TEMPLATES.get(kind, {})}
        self.append_line(spec_line(spec))

    def append_line(self, line: str) -> None:
        text = self.text.toPlainText().rstrip("\n")
        self.text.setPlainText(f"{text}\n{line}" if text else line)
