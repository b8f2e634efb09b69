"""The live adapter size: "2,442,240 trainable / 135M total (1.8%)".

How many parameters a rank and a set of modules train is the first thing to check
against memory and data size; it is counted from config.json, so it updates as the
form changes without loading the model.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

from studio.core.jobs import LoraSettings
from studio.core.presets import count_adapter_parameters

UNKNOWN = "unknown for this architecture"


def short_count(n: int) -> str:
    """A parameter count as model names say it: 135M, 1.7B."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n)


def trainable_text(model: Any, lora: dict[str, Any]) -> str:
    """The line for a ModelInfo (or None) and the job's ``lora`` section."""
    if model is None:
        return "Choose a model on the Models page to see the adapter size."
    try:
        count = count_adapter_parameters(model.config, LoraSettings(**lora))
    except (KeyError, TypeError, ValueError):  # a config without the shapes, or a bad field
        count = None
    if count is None:
        return f"Trainable parameters: {UNKNOWN}"
    total = model.num_parameters
    if not total:
        return f"{count:,} trainable"
    share = 100 * count / total
    return f"{count:,} trainable / {short_count(total)} total ({share:.1f}%)" if share >= 0.1 or not share \
        else f"{count:,} trainable / {short_count(total)} total ({share:.2g}%)"


class LoraSizeLabel(QLabel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setToolTip("Parameters the adapter trains (for LoRA r x (in + out) per adapted layer, plus the "
                        "magnitude vector for DoRA; each method counts its own), against the base model's size.")
        self._plain = self.font()
        self._count = self.font()
        self._count.setPointSizeF(self._count.pointSizeF() * 1.15)
        self._count.setBold(True)

    def show_count(self, model: Any, lora: dict[str, Any]) -> None:
        text = trainable_text(model, lora)
        if text != self.text():
            self.setFont(self._plain if model is None else self._count)  # a hint is not a number
            self.setText(text)
