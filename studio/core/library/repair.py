"""Finishing a rename that a kill cut short, from the folders alone.

A rename commits by moving the adapter's folder (the folder name is the truth), then
rewrites each version's card and the cards of children trained on or merged from it.
A kill between the two left cards saying the old name ("card.json says k7/v1"), which
reindex did not fix. Reindex calls :func:`finish_renames` under the library's lock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from studio.core.cards import read_card, write_card
from studio.core.library.index import Entry


def finish_renames(entries: Sequence[Entry]) -> int:
    """Make every card name its folder, and lineage follow a renamed adapter; returns the
    number of cards rewritten."""
    rewritten = 0
    moved: dict[str, str] = {}
    for entry in entries:
        folder = Path(entry.path)
        card = read_card(folder)
        if card is None or (card.name, card.version) == (entry.name, entry.version):
            continue
        if card.name and card.name != entry.name:
            moved[card.name] = entry.name
        write_card(folder, dataclasses.replace(card, name=entry.name, version=entry.version))
        rewritten += 1
    names = {entry.name for entry in entries}
    moved = {old: new for old, new in moved.items() if old not in names}  # a live old name is another adapter
    for entry in entries if moved else ():
        folder = Path(entry.path)
        card = read_card(folder)
        if card is None:
            continue
        parents = [_follow(parent, moved) for parent in card.parents]
        if parents != card.parents:
            write_card(folder, dataclasses.replace(card, parents=parents))
            rewritten += 1
    return rewritten


def _follow(parent: str, moved: dict[str, str]) -> str:
    name, slash, version = parent.partition("/")
    return moved[name] + slash + version if name in moved else parent
