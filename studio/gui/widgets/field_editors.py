"""One editor per job field, chosen from the field's type; its tooltip is the field's help.

bool -> QCheckBox, int -> QSpinBox, float -> QDoubleSpinBox (a scientific one for
learning rates), Literal -> QComboBox, str -> QLineEdit. The number boxes say what typed
text they can't take instead of dropping it (typed_spin_box). A :class:`FieldBinding`
gives every editor the same get/set/changed surface, so the form never cares which
widget a field got.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from PySide6.QtCore import QEvent, QObject, Qt, SignalInstance
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QWidget,
)

from studio.core.jobs import TrainJob
from studio.gui.widgets.form_spec import CHOICE_HELP, CHOICE_LABELS, SPECS, FieldSpec
from studio.gui.widgets.scientific_spin_box import ScientificSpinBox
from studio.gui.widgets.typed_spin_box import TypedDoubleSpinBox, TypedSpinBox


@dataclass
class FieldBinding:
    name: str  # dotted job field, e.g. "lora.r"
    label: QLabel | None  # None for check boxes, which carry their own text
    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]
    changed: SignalInstance
    # Number boxes say what typed text they can't take (typed_spin_box): now, and once refused.
    problem: Callable[[], str] = lambda: ""
    problem_changed: SignalInstance | None = None
    refused: SignalInstance | None = None

    def caption(self) -> QWidget:
        """The widget whose text names the field (turned red when the field has a problem)."""
        return self.label or self.widget


def field_info(name: str) -> tuple[Any, str, Any]:
    """(type, help text, default) of a dotted TrainJob field."""
    section, attr = name.split(".")
    cls = typing.get_type_hints(TrainJob)[section]
    field = next(f for f in dataclasses.fields(cls) if f.name == attr)
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    return typing.get_type_hints(cls)[attr], field.metadata.get("help", ""), default


class _WheelGuard(QObject):
    """Let the wheel scroll the page unless the spin box or combo has focus:
    scrolling past a form must never change a value by accident."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()
            return True
        return False


_wheel_guard: _WheelGuard | None = None


def guard_wheel(widget: QWidget) -> None:
    global _wheel_guard
    if _wheel_guard is None:
        _wheel_guard = _WheelGuard()
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_wheel_guard)


def make_binding(name: str) -> FieldBinding:
    hint, help_text, _default = field_info(name)
    spec = SPECS.get(name) or FieldSpec(name.split(".")[1].replace("_", " ").capitalize())
    if hint is bool:
        box = QCheckBox(spec.label)
        binding = FieldBinding(name, None, box, box.isChecked, lambda v: box.setChecked(bool(v)), box.toggled)
    elif get_origin(hint) is Literal:
        binding = _combo(name, spec, get_args(hint))
    elif hint is int:
        spin = TypedSpinBox()
        _number_spin(spin, spec)
        binding = FieldBinding(name, QLabel(spec.label), spin, spin.value, lambda v: spin.setValue(int(v)),
                               spin.valueChanged, spin.typed_problem, spin.problem_changed, spin.refused)
    elif hint is float:
        fspin = ScientificSpinBox() if spec.scientific else TypedDoubleSpinBox()
        if not spec.scientific:
            fspin.setDecimals(spec.decimals)
        _number_spin(fspin, spec)
        binding = FieldBinding(name, QLabel(spec.label), fspin, fspin.value, lambda v: fspin.setValue(float(v)),
                               fspin.valueChanged, fspin.typed_problem, fspin.problem_changed, fspin.refused)
    else:
        edit = QLineEdit()
        edit.setPlaceholderText(spec.placeholder)
        edit.setClearButtonEnabled(True)
        binding = FieldBinding(name, QLabel(spec.label), edit, edit.text, lambda v: edit.setText(str(v)),
                               edit.textChanged)
    for widget in (binding.label, binding.widget):
        if widget is not None:
            widget.setToolTip(help_text)
    if binding.label is not None:
        binding.label.setBuddy(binding.widget)
    binding.widget.setObjectName(name)
    return binding


def _number_spin(spin: QAbstractSpinBox, spec: FieldSpec) -> None:
    spin.setRange(spec.minimum, spec.maximum)
    spin.setSingleStep(spec.step)
    spin.setSpecialValueText(spec.special)
    spin.setSuffix(spec.suffix)
    spin.setKeyboardTracking(True)
    spin.setAlignment(Qt.AlignmentFlag.AlignRight)
    guard_wheel(spin)


def _combo(name: str, spec: FieldSpec, choices: tuple[Any, ...]) -> FieldBinding:
    combo = QComboBox()
    # The column's width must not follow its longest choice: the popup still shows it whole.
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(spec.width)
    words, meanings = CHOICE_LABELS.get(name, {}), CHOICE_HELP.get(name, {})
    for choice in choices:
        combo.addItem(words.get(choice, str(choice)), choice)
        if choice in meanings:
            combo.setItemData(combo.count() - 1, meanings[choice], Qt.ItemDataRole.ToolTipRole)
    guard_wheel(combo)

    def set_value(value: Any) -> None:
        index = combo.findData(value)
        if index >= 0:
            combo.setCurrentIndex(index)

    return FieldBinding(name, QLabel(spec.label), combo, combo.currentData, set_value, combo.currentIndexChanged)
