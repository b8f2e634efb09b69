"""What every built-in reward shares: TRL's call signature over a per-completion score.

A preset scores one completion's text against its dataset row; ``__call__`` is the
``f(prompts, completions, **columns) -> list[float]`` TRL's GRPOTrainer calls, where each
dataset column arrives as a list aligned with ``completions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from studio.core.rewards.text import completion_text


class RewardSettingsError(ValueError):
    """A preset's settings are invalid; the message lists every problem, each with a fix."""


class Preset:
    """Base of the built-in rewards (dataclasses): validated settings, a kind and a description."""

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise RewardSettingsError(f"{self.kind}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every problem with the settings (empty when valid)."""
        return []

    def columns(self) -> tuple[str, ...]:
        """The dataset columns this reward reads."""
        return ()

    def score(self, text: str, row: Mapping[str, Any]) -> float:
        """The reward of one completion's text, given its row's values of ``columns()``."""
        raise NotImplementedError

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 **columns: Any) -> list[float]:
        missing = [name for name in self.columns() if name not in columns]
        if missing:
            raise KeyError(f"{self.kind} reads column(s) {', '.join(missing)}, which the batch "
                           f"lacks (it has {', '.join(sorted(columns)) or 'none'})")
        scores = []
        for index, completion in enumerate(completions):
            row = {name: columns[name][index] for name in self.columns()}
            scores.append(float(self.score(completion_text(completion), row)))
        return scores
