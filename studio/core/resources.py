"""Files shipped inside the package (sample dataset, prompts), found without cwd tricks."""

from __future__ import annotations

import json
from pathlib import Path

from studio.core.paths import user_path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SAMPLE_DIR = RESOURCES / "sample"


def bundled_dataset_path(fmt: str = "alpaca") -> Path:
    """The Captain Lora sample: ``alpaca`` (.json) or ``chat`` (.jsonl) flavour."""
    name = {"alpaca": "captain_lora.alpaca.json", "chat": "captain_lora.chat.jsonl"}[fmt]
    return SAMPLE_DIR / name


def resolve_dataset_path(setting: str) -> Path:
    return bundled_dataset_path() if setting == "bundled" else user_path(setting)


def eval_prompts() -> list[str]:
    """Held-out prompts (not in the sample) that show what training changed."""
    return json.loads((SAMPLE_DIR / "eval_prompts.json").read_text(encoding="utf-8"))


def desktop_dir() -> Path:
    """The .desktop entry, AppStream metainfo and icons (``make install-desktop`` copies them)."""
    return RESOURCES / "desktop"
