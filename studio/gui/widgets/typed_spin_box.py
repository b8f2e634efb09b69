"""Spin boxes that say what they refuse.

A plain QSpinBox drops a keystroke it can't read ("fast" in a learning rate never appears)
and, when the box loses focus, quietly puts back the last good value over text it can't take
(a rank of 0 below its minimum of 1). Here the typed text stays in the box while it is being
typed, ``problem_changed`` says what is wrong with it ("“0” is below the smallest allowed,
1"; "" once it reads again), and when Qt puts the last value back, ``refused`` says so
("“0” was not taken: it is below the smallest allowed, 1; it stays 8"). The form names the
field.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QSpinBox

NUMBER_CHARACTERS = frozenset("0123456789.eE+-")


def describe(box: QAbstractSpinBox, text: str) -> tuple[str, str]:
    """(the text as said, why ``box`` can't take it), e.g. ("“0”", "is below the smallest allowed, 1")."""
    body = text
    prefix, suffix = box.prefix(), box.suffix()  # type: ignore[attr-defined]
    if prefix and body.startswith(prefix):
        body = body[len(prefix):]
    if suffix and body.endswith(suffix):
        body = body[:-len(suffix)]
    body = body.strip()
    if not body:
        return "the box", "is empty"
    said = f"“{body}”"
    whole = isinstance(box, QSpinBox)
    try:
        number = float(body)
    except ValueError:
        unfinished = set(body) <= NUMBER_CHARACTERS
        return said, "is not a complete number" if unfinished else f"is not {'a whole number' if whole else 'a number'}"
    low, high = box.minimum(), box.maximum()  # type: ignore[attr-defined]
    if number < low:
        return said, f"is below the smallest allowed, {_plain(low)}"
    if number > high:
        return said, f"is above the largest allowed, {_plain(high)}"
    if whole and not number.is_integer():
        return said, "is not a whole number"
    if isinstance(box, QDoubleSpinBox) and "." in body and len(body.split(".")[1].rstrip("0")) > box.decimals():
        return said, f"has more than {box.decimals()} decimals"
    return said, "can't be read here"


def _plain(value: float) -> str:
    return f"{value:g}"


class _Typed:
    """What TypedSpinBox and TypedDoubleSpinBox share (each declares the two signals)."""

    _problem = ""
    _refusal = ""  # what ``refused`` will say if Qt puts the last value back now
    example = ""  # a value to offer when the text is not a number

    def typed_problem(self) -> str:
        """What is wrong with the text in the box now ("" when it reads)."""
        return self._problem

    def base_validate(self, text: str, pos: int) -> Any:
        return super().validate(text, pos)  # type: ignore[misc]

    def validate(self, text: str, pos: int) -> Any:
        result = self.base_validate(text, pos)
        state = result[0] if isinstance(result, tuple) else result
        if state == QValidator.State.Acceptable:
            self._set_problem("")
            return result
        said, why = describe(self, text)  # type: ignore[arg-type]
        offer = f": type one such as {self.example}" if self.example and ("number" in why or why == "is empty") else ""
        self._set_problem(f"{said} {why}{offer}", f"{said} was not taken: it {why}")
        # Intermediate, not Invalid: a refused keystroke would vanish without a word.
        return QValidator.State.Intermediate, text, pos

    def setValue(self, value: Any) -> None:
        self._set_problem("")  # the box shows this value: whatever was typed is gone
        super().setValue(value)  # type: ignore[misc]

    def focusOutEvent(self, event: QFocusEvent) -> None:
        pending = self._refusal
        super().focusOutEvent(event)  # type: ignore[misc]
        self._say_refused(pending)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        pending = self._refusal if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) else ""
        super().keyPressEvent(event)  # type: ignore[misc]
        self._say_refused(pending)

    def _say_refused(self, pending: str) -> None:
        """Qt has put the last value back over text it can't take: say so, and what it kept."""
        if pending and not self._problem:
            self.refused.emit(f"{pending}; it stays {self.text().strip()}")  # type: ignore[attr-defined]

    def _set_problem(self, problem: str, refusal: str = "") -> None:
        self._refusal = refusal
        if problem != self._problem:
            self._problem = problem
            self.problem_changed.emit(problem)  # type: ignore[attr-defined]


class TypedSpinBox(_Typed, QSpinBox):
    problem_changed = Signal(str)
    refused = Signal(str)


class TypedDoubleSpinBox(_Typed, QDoubleSpinBox):
    problem_changed = Signal(str)
    refused = Signal(str)
