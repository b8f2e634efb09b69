"""Pick a hyperparameter preset: the one for the chosen model's size, or any size's.

A preset fills rank, alpha, dropout, learning rate and target modules (the tables
in ``shared/seeds``), a known-good starting point a person then adjusts.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core.presets import Preset, all_presets, preset_for, resolve_target_modules
from studio.gui.widgets.field_editors import guard_wheel


def preset_values(preset: Preset, model: Any) -> dict[str, Any]:
    """The job fields a preset sets, as dotted names (modules resolved for the model)."""
    modules = resolve_target_modules(model.config, ["auto"], preset.scope) if model is not None else ["auto"]
    if modules == ["all-linear"]:  # unknown architecture: the engine resolves "auto" when it loads it
        modules = ["auto"]
    return {"lora.r": preset.r, "lora.alpha": float(preset.alpha), "lora.dropout": preset.dropout,
            "training.learning_rate": preset.learning_rate, "lora.target_modules": modules}


class PresetPicker(QWidget):
    applied = Signal(object)  # the Preset, when "Apply preset" is pressed

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._model: Any = None
        self.combo = QComboBox()
        self.combo.setToolTip("Starting hyperparameters by model size (rank, alpha, dropout, learning "
                              "rate, target modules). The first entry follows the chosen model.")
        guard_wheel(self.combo)
        self.apply_button = QPushButton("Apply preset")
        self.apply_button.setToolTip("Fill rank, alpha, dropout, learning rate and target modules "
                                     "from the preset; every other field stays as it is.")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setVisible(False)  # until a preset is applied
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self.apply_button.clicked.connect(lambda: self.applied.emit(self.preset()))
        self.set_model(None)

    def set_model(self, model: Any) -> None:
        """Relabel the first entry for a ModelInfo (or None), keeping the choice."""
        self._model = model
        index = max(self.combo.currentIndex(), 0)
        own = preset_for(model.num_parameters if model is not None else None)
        self.combo.clear()
        self.combo.addItem(f"For this model: {own.name}" if model is not None else "For the model (choose one)")
        for preset in all_presets():
            self.combo.addItem(preset.name)
        for i, preset in enumerate([own, *all_presets()]):
            self.combo.setItemData(i, describe(preset), Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(index)

    def preset(self, index: int | None = None) -> Preset:
        """Entry ``index`` (default: the chosen one); 0 is the model's own size."""
        index = self.combo.currentIndex() if index is None else index
        if index <= 0:
            return preset_for(self._model.num_parameters if self._model is not None else None)
        return all_presets()[index - 1]

    def show_applied(self, preset: Preset) -> None:
        self.note.setText(f"Applied “{preset.name}”: {preset.note}.")
        self.note.setVisible(True)


def describe(preset: Preset) -> str:
    return (f"r {preset.r}, alpha {preset.alpha}, dropout {preset.dropout}, lr {preset.learning_rate:g}, "
            f"modules: {preset.scope}. {preset.note[:1].upper()}{preset.note[1:]}.")
