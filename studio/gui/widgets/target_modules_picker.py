"""Which layers LoRA adapts: check boxes named after the model's real modules.

For a known architecture the boxes come from ``available_modules(config)`` with an
"All linear layers" switch (peft's ``all-linear``); ticking exactly the layers that
``auto`` resolves to reads back as ``auto``. For an unknown architecture, or before a
model is chosen, a text field takes the names (or ``auto`` / ``all-linear``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLineEdit, QVBoxLayout, QWidget

from studio.core.presets import available_modules, resolve_target_modules

ALL_LINEAR = "all-linear"
_COLUMNS = 2


class TargetModulesPicker(QWidget):
    changed = Signal()

    def __init__(self, help_text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._help = help_text
        self._config: dict[str, Any] = {}
        self._boxes: dict[str, QCheckBox] = {}
        self.all_linear = QCheckBox("All linear layers")
        self.all_linear.setToolTip("peft's 'all-linear': every linear layer except the output head.\n\n"
                                   + help_text)
        self.all_linear.toggled.connect(self._on_all_linear)
        self.text = QLineEdit()
        self.text.setPlaceholderText("auto, all-linear, or names: q_proj, v_proj")
        self.text.setToolTip(help_text)
        self.text.textChanged.connect(self.changed)
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(12)
        self._grid.setVerticalSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.text)
        layout.addWidget(self.all_linear)
        layout.addWidget(self._grid_host)
        self.setToolTip(help_text)
        self.set_config(None)

    def uses_checkboxes(self) -> bool:
        return bool(self._boxes)

    def module_names(self) -> list[str]:
        return list(self._boxes)

    def checkbox(self, name: str) -> QCheckBox:
        return self._boxes[name]

    def set_config(self, config: dict[str, Any] | None) -> None:
        """Rebuild for a model's config.json dict (None: no model, a text field); keeps the value."""
        current = self.value()
        self._config = dict(config or {})
        self._rebuild(available_modules(self._config))
        self.set_value(current)

    def value(self) -> list[str]:
        if not self._boxes:
            return [part.strip() for part in self.text.text().split(",") if part.strip()]
        if self.all_linear.isChecked():
            return [ALL_LINEAR]
        checked = [name for name, box in self._boxes.items() if box.isChecked()]
        # Exactly what "auto" means for this architecture is saved as "auto": the job
        # file then stays portable to other models of another family.
        return ["auto"] if set(checked) == set(resolve_target_modules(self._config, ["auto"])) else checked

    def set_value(self, modules: list[str]) -> None:
        modules = [str(m) for m in modules]
        blocked = self.blockSignals(True)
        try:
            if not self._boxes:
                self.text.setText(", ".join(modules))
            else:
                wanted = resolve_target_modules(self._config, modules) if modules == ["auto"] else modules
                unknown = [m for m in wanted if m not in self._boxes and m != ALL_LINEAR]
                if unknown:  # names from a job file that this architecture doesn't list
                    self._rebuild([*self._boxes, *unknown])
                self.all_linear.setChecked(wanted == [ALL_LINEAR])
                for name, box in self._boxes.items():
                    box.setChecked(name in wanted or wanted == [ALL_LINEAR])
        finally:
            self.blockSignals(blocked)
        self.changed.emit()

    def _rebuild(self, names: list[str]) -> None:
        for box in self._boxes.values():
            box.setParent(None)
            box.deleteLater()
        self._boxes = {}
        for index, name in enumerate(names):
            box = QCheckBox(name)
            box.setToolTip(f"Adapt every '{name}' layer.\n\n{self._help}")
            box.toggled.connect(self.changed)
            self._grid.addWidget(box, index // _COLUMNS, index % _COLUMNS)
            self._boxes[name] = box
        self.text.setVisible(not names)
        self.all_linear.setVisible(bool(names))
        self._grid_host.setVisible(bool(names))
        self._on_all_linear(self.all_linear.isChecked())

    def _on_all_linear(self, on: bool) -> None:
        for box in self._boxes.values():
            if on:  # every layer is in, so show every box ticked
                blocked = box.blockSignals(True)
                box.setChecked(True)
                box.blockSignals(blocked)
            box.setEnabled(not on)
        self.changed.emit()
