"""The reward set each shipped prompt sample comes with, so `lora-studio train --stage grpo --dataset
bundled-arithmetic` and the Train page start with rewards a person would pick for it."""

from __future__ import annotations

from typing import Any

# An answer counts when its number matches (the tagged one, else the last line's); a short answer earns
# a little, since a number at the end of a ramble is read as the answer; so do the tags the prompts ask for.
ARITHMETIC_REWARDS: tuple[dict[str, Any], ...] = (
    {"kind": "numeric_match", "column": "answer", "weight": 1.0},
    {"kind": "length_window", "max_length": 25, "unit": "words", "falloff": 25, "weight": 0.5, "label": "short"},
    {"kind": "regex", "pattern": r"<answer>\s*-?[\d.,]+\s*</answer>", "mode": "search", "weight": 0.25,
     "label": "answer_tags"},
)
SAMPLE_REWARDS: dict[str, tuple[dict[str, Any], ...]] = {"bundled-arithmetic": ARITHMETIC_REWARDS}


def sample_rewards(dataset_path: str) -> list[dict[str, Any]]:
    """The reward tables a shipped sample comes with (empty for any other dataset)."""
    return [dict(spec) for spec in SAMPLE_REWARDS.get(dataset_path, ())]
