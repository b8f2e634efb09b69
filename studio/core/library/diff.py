"""What differs between two adapter versions: hyperparameters, dataset, base, metrics."""

from __future__ import annotations

from typing import Any

from studio.core.cards import Card

SECTIONS = ("method", "quantization", "base_model", "lora", "training", "dataset", "metrics", "parents", "tags")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _sections(card: Card | None) -> dict[str, dict[str, Any]]:
    data = card.to_dict() if card is not None else {}
    return {section: flatten(data.get(section), section) for section in SECTIONS}


def flat_card(card: Card | None) -> dict[str, Any]:
    """A card's compared sections as dotted keys ("lora.r"); a missing card's are all None."""
    return {k: v for values in _sections(card).values() for k, v in values.items()}


def diff_cards(a: Card | None, b: Card | None) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) for every field that differs, section by section."""
    rows = []
    sections_a, sections_b = _sections(a), _sections(b)
    for section in SECTIONS:
        left, right = sections_a[section], sections_b[section]
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                rows.append((key, left.get(key), right.get(key)))
    return rows
