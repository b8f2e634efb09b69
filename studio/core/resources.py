"""Files shipped inside the package (sample dataset, prompts), found without cwd tricks."""

from __future__ import annotations

import json
from pathlib import Path

from studio.core.paths import user_path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SAMPLE_DIR = RESOURCES / "sample"


SAMPLE_FILES = {
    "alpaca": "captain_lora.alpaca.json",
    "chat": "captain_lora.chat.jsonl",
    "preference": "captain_lora.preference.jsonl",  # pirate replies chosen over plain ones (DPO/ORPO/SimPO/KTO)
    "arithmetic": "arithmetic.prompts.jsonl",  # word problems with numeric answers (GRPO)
    "arithmetic-eval": "arithmetic.eval.jsonl",  # held-out problems for before/after checks
}
# dataset.path names for the shipped samples, as a job or the CLI's --dataset gives them.
BUNDLED_DATASETS = {"bundled": "alpaca", "bundled-preference": "preference", "bundled-arithmetic": "arithmetic"}


def bundled_dataset_path(fmt: str = "alpaca") -> Path:
    """A shipped sample: Captain Lora's ``alpaca`` (.json), ``chat`` or ``preference`` (.jsonl), or the
    ``arithmetic`` prompts for GRPO (``arithmetic-eval``: its held-out problems)."""
    return SAMPLE_DIR / SAMPLE_FILES[fmt]


def resolve_dataset_path(setting: str) -> Path:
    """A job's dataset.path: a bundled sample's name (see BUNDLED_DATASETS) or a path."""
    sample = BUNDLED_DATASETS.get(setting)
    return bundled_dataset_path(sample) if sample else user_path(setting)


def eval_prompts() -> list[str]:
    """Held-out prompts (not in the sample) that show what training changed."""
    return json.loads((SAMPLE_DIR / "eval_prompts.json").read_text(encoding="utf-8"))


def desktop_dir() -> Path:
    """The .desktop entry, AppStream metainfo and icons (``make install-desktop`` copies them)."""
    return RESOURCES / "desktop"
