"""Rewards that compare the completion's answer with a reference column of the dataset."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from studio.core.rewards.base import Preset
from studio.core.rewards.text import final_answer, parse_number, reference_number


@dataclass
class ReferenceColumn(Preset):
    """A reward that reads one dataset column holding the expected answer."""

    column: str = "answer"  # the dataset column holding the expected answer

    def problems(self) -> list[str]:
        return [] if self.column.strip() else ["`column` is empty; name the answer column, e.g. 'answer'"]

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


@dataclass
class ExactMatch(ReferenceColumn):
    """1 when the final answer equals the reference column, else 0."""

    kind: ClassVar[str] = "exact_match"
    description: ClassVar[str] = ("1 when the final answer (the <answer> tag, else the last line) "
                                  "equals the reference column, else 0")

    strip: bool = True  # ignore spaces and newlines around both sides
    ignore_case: bool = True  # "Paris" matches "paris"

    def _normal(self, text: str) -> str:
        text = text.strip() if self.strip else text
        return text.casefold() if self.ignore_case else text

    def score(self, text: str, row: Mapping[str, Any]) -> float:
        reference = row[self.column]
        return float(self._normal(final_answer(text)) == self._normal(str(reference)))


@dataclass
class NumericMatch(ReferenceColumn):
    """1 when the completion's number equals the reference number within a tolerance, else 0."""

    kind: ClassVar[str] = "numeric_match"
    description: ClassVar[str] = ("1 when the number in the <answer> tag (else the last number) "
                                  "equals the reference column within the tolerance, else 0")

    tolerance: float = 1e-6  # largest absolute difference that still counts; 0.01 for money

    def problems(self) -> list[str]:
        problems = super().problems()
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            problems.append(f"`tolerance` must be a number >= 0, not {self.tolerance}; 1e-6 is typical")
        return problems

    def score(self, text: str, row: Mapping[str, Any]) -> float:
        reference = reference_number(row[self.column])
        tagged = final_answer(text) if "<answer>" in text.lower() else text
        answer = parse_number(tagged)
        if reference is None or answer is None:
            return 0.0
        return float(abs(answer - reference) <= self.tolerance)
