"""The pages' library reads, made in the thread pool, of which only the newest answer counts.

A page never opens the library on the GUI thread (a big library lists slowly, and a
reindex or a rename elsewhere may hold it): each read below runs through
gui.background with its own ``Library`` (its own SQLite connection), and its answer is
applied on the GUI thread. A page that asks again before the last answer came (the
library changed twice, the selection moved on) wants only the newer one:
:class:`NewestRead` drops the older answers.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from studio.core.library import (
    Entry,
    Library,
    LibraryError,
    base_model_of,
    diff_cards,
    read_adapter_config,
)
from studio.core.methods import settings_from_peft
from studio.core.stage_names import card_stage
from studio.gui.background import run_in_background

log = logging.getLogger(__name__)


class NewestRead(QObject):
    """One kind of read of one page: each :meth:`run` supersedes the ones before it.

    A child of the page, so that an answer arriving after the page closed is dropped too
    (gui.background skips a callback whose QObject was deleted)."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._asked = 0
        self._answered = 0

    def run(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None],
            on_error: Callable[[BaseException], None] | None = None) -> None:
        self._asked += 1
        run_in_background(fn, *args, on_done=functools.partial(self._answer, self._asked, on_done),
                          on_error=functools.partial(self._answer, self._asked, on_error))

    def pending(self) -> bool:
        """The newest read has not answered yet (tests wait for it)."""
        return self._answered != self._asked

    def _answer(self, number: int, callback: Callable[[Any], None] | None, value: Any) -> None:
        if number != self._asked:
            return  # asked again since: the newer answer is on its way
        self._answered = number
        if callback is not None:
            callback(value)
        elif isinstance(value, BaseException):
            log.error("library read failed", exc_info=value)


def library_refs() -> list[str]:
    """Every live version's ref ("name/v2"), for the Compare page's boxes."""
    with Library() as library:
        return [entry.ref for entry in library.entries()]


def entries_and_bases() -> tuple[list[Entry], dict[str, str | None]]:
    """Every live version, and the base model each was trained on where this machine has it
    (what the Merge page's jobs load)."""
    with Library() as library:
        entries = library.entries()
    return entries, {entry.ref: base_model_of(Path(entry.path)) for entry in entries}


def stage_in(library: Library, ref: str) -> str:
    """A version's training stage from its card; "" for one that is no longer in the library."""
    try:
        return card_stage(library.card(ref))
    except LibraryError:
        return ""


def relatives(ref: str, parents: list[str], known: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The children of a version across the whole library (not only the listed ones), and the
    training stage of its parents and children (``known`` ones are not read again)."""
    with Library() as library:
        children = [child.ref for child in library.index.children(ref)]
        stages = {other: known.get(other) or stage_in(library, other) for other in (*parents, *children)}
    return children, stages


def card_diff(a: Entry, b: Entry) -> list[tuple[str, object, object]]:
    """The fields two versions' cards differ in (a trashed one's card counts as none)."""
    with Library() as library:
        return diff_cards(library.card(a.ref) if not a.trashed else None,
                          library.card(b.ref) if not b.trashed else None)


def continuation(ref: str) -> tuple[str | None, dict[str, Any]]:
    """What training a version further starts from: its base model (None where this machine has
    none that fits) and its method's settings as its adapter_config.json holds them."""
    with Library() as library:
        folder = library.resolve(ref).path_obj
    return base_model_of(folder), settings_from_peft(read_adapter_config(folder))


def rebuild_index() -> int:
    """Recreate the index from the folders (the Reindex button); the number of versions."""
    with Library() as library:
        return library.rebuild()
