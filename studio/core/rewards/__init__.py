"""Reward functions for GRPO: built-in presets, a user's own file, and weighted combinations.

Every reward is TRL's ``f(prompts, completions, **columns) -> list[float]`` plus ``columns()``,
the dataset columns it reads. A job names its rewards as plain tables
(``{"kind": "numeric_match", "column": "answer", "weight": 1.0}``, or ``{"kind": "file",
"path": "my_reward.py"}``); ``combined_from_specs`` turns them into one ``CombinedReward``.
Core code: no torch; ``jsonschema`` is the only dependency.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from studio.core.rewards.base import Preset, RewardSettingsError
from studio.core.rewards.combine import CombinedReward, RewardFunction, RewardScores, WeightedReward
from studio.core.rewards.json_schema import JsonSchema
from studio.core.rewards.matching import ExactMatch, NumericMatch
from studio.core.rewards.shape import Contains, Excludes, LengthWindow, Regex
from studio.core.rewards.text import completion_text, final_answer, parse_number
from studio.core.rewards.user_file import UserReward, UserRewardError

# The built-in rewards by kind, in the order the Train page offers them.
PRESETS: dict[str, type[Preset]] = {
    preset.kind: preset
    for preset in (ExactMatch, NumericMatch, Regex, LengthWindow, Contains, Excludes, JsonSchema)
}
USER_FILE_KIND = "file"  # {"kind": "file", "path": ...}: the user's own reward.py (runs their code)
SPEC_KEYS = ("kind", "weight", "label")  # keys of a spec that are not the reward's own settings


def reward_from_spec(spec: Mapping[str, Any]) -> RewardFunction:
    """One reward from its table: a preset's kind and settings, or ``kind = "file"`` and a path."""
    kind = spec.get("kind", "")
    settings = {key: value for key, value in spec.items() if key not in SPEC_KEYS}
    if kind == USER_FILE_KIND:
        if set(settings) != {"path"}:
            raise RewardSettingsError("a file reward takes only `path` (and `weight`, `label`)")
        return UserReward(settings["path"])
    if kind not in PRESETS:
        raise RewardSettingsError(f"unknown reward kind {kind!r}; choose one of "
                                  f"{', '.join([*PRESETS, USER_FILE_KIND])}")
    preset = PRESETS[kind]
    known = {item.name for item in dataclasses.fields(preset)}  # type: ignore[arg-type]
    unknown = sorted(set(settings) - known)
    if unknown:
        raise RewardSettingsError(f"{kind} has no setting {', '.join(unknown)}; its settings are "
                                  f"{', '.join(sorted(known)) or 'none'}")
    return preset(**settings)


def combined_from_specs(specs: Iterable[Mapping[str, Any]]) -> CombinedReward:
    """Several reward tables, each with an optional ``weight`` (1) and ``label``, as one reward."""
    return CombinedReward([
        WeightedReward(reward_from_spec(spec), float(spec.get("weight", 1.0)), str(spec.get("label", "")))
        for spec in specs
    ])


__all__ = [
    "PRESETS", "USER_FILE_KIND", "CombinedReward", "Contains", "ExactMatch", "Excludes",
    "JsonSchema", "LengthWindow", "NumericMatch", "Preset", "Regex", "RewardFunction",
    "RewardScores", "RewardSettingsError", "UserReward", "UserRewardError", "WeightedReward",
    "combined_from_specs", "completion_text", "final_answer", "parse_number", "reward_from_spec",
]
