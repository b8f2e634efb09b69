"""What the library's folders hold, and whether the index has seen it yet.

Reading the library (a listing, a search, a lookup as the user types) must not wait for a
writer, and a writer holds the library's lock for as long as it copies an adapter in. So
a read syncs the index only when the folders changed since the index was last synced
(:func:`signature` of the version folders and their cards, kept in the index), and then
only if it gets the lock at once (:func:`writers_lock` with ``wait=False``); otherwise it
reads the index as it is: the writer indexes its own change, and the next read catches up.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from studio.core.cards import CARD_NAME

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")


class Found(NamedTuple):
    """One version folder as the disk has it."""

    folder: Path
    trashed: bool
    card_mtime: float  # what the index keeps (0.0: no card.json)
    card_stamp: tuple[int, int, int]  # (inode, mtime in ns, size): a card replaced or edited in place


def versions(name_dir: Path) -> list[int]:
    """The version numbers of one adapter's folder, oldest first."""
    if not name_dir.is_dir():
        return []
    found = []
    for child in name_dir.iterdir():
        match = VERSION_RE.match(child.name)
        if match and child.is_dir():
            found.append(int(match.group(1)))
    return sorted(found)


def on_disk(root: Path, trash: Path) -> dict[str, Found]:
    """Every version folder, live then trashed, by ref ("name/v3"); stats only, no file is read."""
    found = {}
    for base, trashed in ((root, False), (trash, True)):
        if not base.is_dir():
            continue
        for name_dir in sorted(base.iterdir()):
            if not name_dir.is_dir() or not NAME_RE.match(name_dir.name):
                continue
            for version in versions(name_dir):
                folder = name_dir / f"v{version}"
                try:
                    stat = (folder / CARD_NAME).stat()
                    mtime, stamp = stat.st_mtime, (stat.st_ino, stat.st_mtime_ns, stat.st_size)
                except OSError:
                    mtime, stamp = 0.0, (0, 0, 0)
                found[f"{name_dir.name}/v{version}"] = Found(folder, trashed, mtime, stamp)
    return found


def signature(found: dict[str, Found]) -> str:
    """A digest that changes whenever a version appears, goes, moves to or from the trash, or
    its card.json is rewritten: what the index would have to follow."""
    digest = hashlib.sha256()
    for ref, item in sorted(found.items()):
        digest.update(f"{ref}\0{int(item.trashed)}\0{item.folder}\0{item.card_stamp}\n".encode())
    return digest.hexdigest()


@contextlib.contextmanager
def writers_lock(lock_file: Path, wait: bool = True) -> Iterator[bool]:
    """The library's exclusive lock (the one ``atomic.locked`` takes). Yields whether it is held:
    with ``wait=False`` it is False at once where a writer holds it. Not re-entrant."""
    with open(lock_file, "a+") as handle:
        if fcntl is None:
            yield True
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
