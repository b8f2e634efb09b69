"""A run's or an adapter's training stage, as the app and the CLI name it ("DPO"), read from its job or card.

The stage decides what may be shown: a preference run's loss is no language-model loss, so
its perplexity (exp of that loss) means nothing and is never shown; its reward margin and the
share of pairs it ranks right are what it learned.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from studio.core import runs
from studio.core.cards import Card
from studio.core.jobs import PREFERENCE_STAGES

# The short name shown in tables, tags and banners (the Train form's Stage box says more).
STAGE_TAGS = {"sft": "SFT", "dpo": "DPO", "orpo": "ORPO", "simpo": "SimPO", "kto": "KTO", "grpo": "GRPO"}


def stage_tag(stage: str) -> str:
    """"DPO" for "dpo"; "—" for none (a merged or imported adapter); a stage this version doesn't know
    is shown as it is."""
    return STAGE_TAGS.get(stage, stage) if stage else "—"


def is_preference(stage: str) -> bool:
    return stage in PREFERENCE_STAGES


def job_stage(job: Mapping[str, Any] | None) -> str:
    """A job dict's training stage: "sft" where it names none (every job before preference stages)."""
    training = job.get("training") if isinstance(job, Mapping) else None
    stage = training.get("stage") if isinstance(training, Mapping) else None
    return stage if isinstance(stage, str) and stage else "sft"


def run_stage(run_dir: Path | None) -> str:
    """The stage of a run folder's job ("sft" where job.json can't say: a run of another kind, or gone)."""
    if run_dir is None:
        return "sft"
    try:
        data = json.loads((Path(run_dir) / runs.JOB_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "sft"
    return job_stage(data) if isinstance(data, dict) and data.get("kind", "train") == "train" else "sft"


def card_stage(card: Card | None) -> str:
    """The stage an adapter was trained with (its card's training section: "sft" where it names none, as
    before preference stages); "" for one not trained here (merged, imported) or without a card."""
    return job_stage({"training": card.training}) if card is not None and card.training else ""


def preference_metrics(numbers: dict[str, float] | None) -> list[tuple[float, str, str]]:
    """(value, label, format) of a preference run's last margin and accuracy: held-out where measured."""
    numbers = numbers or {}
    found = []
    for key, label, spec, scale in (("rewards/margins", "reward margin", "{:.3f}", 1.0),
                                    ("rewards/accuracies", "pairs ranked right", "{:.0f} %", 100.0)):
        for prefix, words in (("eval_", "eval "), ("", "")):
            value = numbers.get(prefix + key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.append((value * scale, words + label, spec))
                break
    return found


def without_preference_perplexity(cards: Mapping[str, Card | None]) -> dict[str, Card | None]:
    """The cards with a preference adapter's perplexity taken out (for a config diff of several)."""
    return {ref: card if card is None or not is_preference(card_stage(card)) else
            dataclasses.replace(card, metrics=dataclasses.replace(card.metrics, perplexity=None))
            for ref, card in cards.items()}
