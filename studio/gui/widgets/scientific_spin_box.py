"""A spin box for small numbers such as learning rates, shown as ``2e-4``.

A plain QDoubleSpinBox shows 0.000200 and steps by a fixed amount; here the text
is scientific and a step moves the leading digit (2e-4 -> 3e-4, 1e-4 -> 9e-5), the
way people actually tune a learning rate. What it can't read is said, not dropped
(typed_spin_box).
"""

from __future__ import annotations

import math

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QWidget

from studio.gui.widgets.typed_spin_box import TypedDoubleSpinBox


def format_scientific(value: float) -> str:
    """``2e-4``, ``1.5e-5``, ``0``: the shortest text that reads back as the value."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


class ScientificSpinBox(TypedDoubleSpinBox):
    """Text it can't read ("fast") stays in the box and is said (TypedDoubleSpinBox), not dropped."""

    example = "2e-4"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(12)  # Qt rounds stored values to this many decimals
        self.setRange(0.0, 1.0)

    def textFromValue(self, value: float) -> str:
        return format_scientific(value)

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def base_validate(self, text: str, pos: int) -> object:
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            partial = stripped == "" or all(c in "0123456789.eE+-" for c in stripped)
            state = QValidator.State.Intermediate if partial else QValidator.State.Invalid
            return state, text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:
        value = self.value()
        for _ in range(abs(steps)):
            value = self._next(value, up=steps > 0)
        self.setValue(min(max(value, self.minimum()), self.maximum()))

    @staticmethod
    def _next(value: float, up: bool) -> float:
        if value <= 0:
            return 1e-5 if up else 0.0
        decade = 10.0 ** math.floor(math.log10(value) + 1e-9)
        if not up and math.isclose(value, decade, rel_tol=1e-6):
            decade /= 10  # 1e-4 steps down to 9e-5, not to 0
        return float(f"{(value + decade if up else value - decade):.3g}")
