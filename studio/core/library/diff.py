"""What differs between two adapter versions: hyperparameters, dataset, base, metrics."""

from __future__ import annotations

from typing import Any

SECTIONS = ("method", "quantization", "base_model", "lora", "training", "dataset", "metrics", "parents", "tags")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def diff_cards(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) for every field that differs, section by section."""
    rows = []
    for section in SECTIONS:
        left, right = flatten(a.get(section), section), flatten(b.get(section), section)
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                rows.append((key, left.get(key), right.get(key)))
    return rows
