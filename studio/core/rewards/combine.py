"""Several rewards with weights as one: the total, each function's scores, the columns they read.

TRL's GRPOTrainer takes a list of functions and ``reward_weights``; ``trl_functions`` and
``weights`` hand it exactly that, each function named by its label so TRL logs
``rewards/<label>/mean``. ``score`` does the same sum here, for previews and for a trainer
that reports the mean reward per function itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from studio.core.rewards.base import RewardSettingsError


class RewardFunction(Protocol):
    """A built-in preset or a user file: TRL's call, and the columns it reads."""

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 **columns: Any) -> list[float]: ...

    def columns(self) -> tuple[str, ...]: ...


@dataclass
class WeightedReward:
    """One reward and its weight in the total; ``label`` names it in logs (default: its kind)."""

    reward: RewardFunction
    weight: float = 1.0
    label: str = ""


@dataclass
class RewardScores:
    """A batch's total reward per completion, and each function's own (unweighted) scores."""

    total: list[float]
    per_function: dict[str, list[float]] = field(default_factory=dict)

    def means(self) -> dict[str, float]:
        """The mean of each function's scores, as a step reports them."""
        return {label: sum(scores) / len(scores) if scores else 0.0
                for label, scores in self.per_function.items()}


def _default_label(reward: RewardFunction) -> str:
    return str(getattr(reward, "kind", "") or getattr(reward, "__name__", "") or type(reward).__name__)


class CombinedReward:
    """A weighted sum of rewards, callable as one TRL reward function."""

    def __init__(self, parts: Iterable[WeightedReward | RewardFunction]) -> None:
        self.parts = [part if isinstance(part, WeightedReward) else WeightedReward(part)
                      for part in parts]
        problems = []
        if not self.parts:
            problems.append("no rewards chosen; pick at least one")
        for part in self.parts:
            if not math.isfinite(part.weight):
                problems.append(f"weight of {_default_label(part.reward)} must be a finite number, "
                                f"not {part.weight}")
        if problems:
            raise RewardSettingsError("; ".join(problems))
        self.labels = self._unique_labels()
        self.__name__ = "combined_reward"

    def _unique_labels(self) -> list[str]:
        """Each part's label, numbered when two share one ("numeric_match", "numeric_match_2")."""
        labels: list[str] = []
        for part in self.parts:
            base = part.label or _default_label(part.reward)
            label, count = base, 1
            while label in labels:
                count += 1
                label = f"{base}_{count}"
            labels.append(label)
        return labels

    def columns_read(self) -> dict[str, tuple[str, ...]]:
        """The dataset columns each reward reads, by label (for the dataset preview)."""
        return {label: part.reward.columns() for label, part in zip(self.labels, self.parts, strict=True)}

    def column_problems(self, available: Iterable[str]) -> list[str]:
        """One line per reward that reads a column the dataset lacks (empty when all are there)."""
        there = sorted(set(available))
        problems = []
        for label, needed in self.columns_read().items():
            for column in needed:
                if column not in there:
                    problems.append(f"reward {label} reads column {column!r}, which the dataset "
                                    f"lacks; its columns are {', '.join(there) or 'none'}")
        return problems

    def check_columns(self, available: Iterable[str]) -> None:
        """Raise before training when a reward reads a column the dataset lacks."""
        problems = self.column_problems(available)
        if problems:
            raise RewardSettingsError("; ".join(problems))

    def score(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
              **columns: Any) -> RewardScores:
        """Every function's scores and their weighted sum per completion."""
        per_function = {label: part.reward(prompts, completions, **columns)
                        for label, part in zip(self.labels, self.parts, strict=True)}
        total = [0.0] * len(completions)
        for part, scores in zip(self.parts, per_function.values(), strict=True):
            for index, value in enumerate(scores):
                total[index] += part.weight * value
        return RewardScores(total=total, per_function=per_function)

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 **columns: Any) -> list[float]:
        return self.score(prompts, completions, **columns).total

    def weights(self) -> list[float]:
        """The weights in order, for TRL's ``reward_weights``."""
        return [part.weight for part in self.parts]

    def trl_functions(self) -> list[Callable[..., list[float]]]:
        """One plain function per reward, each ``__name__``d by its label (TRL logs by name)."""
        return [_named(label, part.reward) for label, part in zip(self.labels, self.parts, strict=True)]


def _named(label: str, reward: RewardFunction) -> Callable[..., list[float]]:
    def function(prompts: Any, completions: Any, **columns: Any) -> list[float]:
        return list(reward(prompts, completions, **columns))
    function.__name__ = label
    return function
