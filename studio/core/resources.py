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
}
# dataset.path names for the shipped samples, as a job or the CLI's --dataset gives them.
BUNDLED_DATASETS = {"bundled": "alpaca", "bundled-preference": "preference"}


def bundled_dataset_path(fmt: str = "alpaca") -> Path:
    """The Captain Lora sample: ``alpaca`` (.json), ``chat`` (.jsonl) or ``preference`` (.jsonl pairs)."""
    return SAMPLE_DIR / SAMPLE_FILES[fmt]


def resolve_dataset_path(setting: str) -> Path:
    """A job's dataset.path: a bundled sample's name ("bundled", "bundled-preference") or a path."""
    sample = BUNDLED_DATASETS.get(setting)
    return bundled_dataset_path(sample) if sample else user_path(setting)


def eval_prompts() -> list[str]:
    """Held-out prompts (not in the sample) that show what training changed."""
    return json.loads((SAMPLE_DIR / "eval_prompts.json").read_text(encoding="utf-8"))


def desktop_dir() -> Path:
    """The .desktop entry, AppStream metainfo and icons (``make install-desktop`` copies them)."""
    return RESOURCES / "desktop"
