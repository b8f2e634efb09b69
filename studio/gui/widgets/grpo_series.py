"""Which of a GRPO step's numbers (TRL's names) the Monitor charts, and under which series; no Qt.

A GRPO run learns to earn rewards: its mean total reward, each reward function's mean, the
spread of the rewards within a group (no spread, nothing to learn from), how long the answers
grow, and how far the policy drifts from the base model (KL, only sent when beta > 0).
"""

from __future__ import annotations

import math

# TRL's name -> series name; each reward function's mean becomes FUNCTION_PREFIX + its label.
GRPO_SERIES = {"reward": "reward", "reward_std": "reward_std", "completions/mean_length": "mean_length",
               "kl": "kl"}
FUNCTION_PREFIX = "reward:"


def grpo_points(numbers: object) -> list[tuple[str, float]]:
    """(series, value) of the GRPO numbers in a step's or evaluation's ``preference`` dict; nonsense
    values (not finite, not numbers) are left out."""
    if not isinstance(numbers, dict):
        return []
    points = []
    for key, value in numbers.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            continue
        if key in GRPO_SERIES:
            points.append((GRPO_SERIES[key], float(value)))
        elif isinstance(key, str) and key.startswith("rewards/") and key.endswith("/mean") \
                and len(key) > len("rewards//mean"):
            points.append((FUNCTION_PREFIX + key[len("rewards/"):-len("/mean")], float(value)))
    return points


def reward_label(series: str) -> str | None:
    """The reward function's label of a series ("numeric_match" for "reward:numeric_match"), else None."""
    return series[len(FUNCTION_PREFIX):] if series.startswith(FUNCTION_PREFIX) else None
