"""A library write that the disk or the index refused, said in one sentence.

The library lives on a disk that can fill up, be mounted read-only or belong to
another user; SQLite reports the same causes in its own words. Every library
operation turns those errors into one sentence naming the cause and the cure, so
neither a finishing run nor ``lora-studio library`` ever shows a traceback for them.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from studio.core.disk_full import is_disk_full

READ_ONLY = (errno.EROFS,)
DENIED = (errno.EACCES, errno.EPERM)


class LibraryError(ValueError):
    """A library operation that can't be done; the message says why and what to do."""


def describe(exc: BaseException, root: Path) -> str:
    """Why the library at ``root`` could not do what was asked, and what to do."""
    if is_disk_full(exc):  # OSError's ENOSPC/EDQUOT and SQLite's "database or disk is full" alike
        return f"the disk holding the library ({root}) is full: free some space and try again"
    if isinstance(exc, sqlite3.Error):
        return _describe_sqlite(exc, root)
    if isinstance(exc, OSError):
        target = exc.filename2 or exc.filename  # shutil.copyfile names the source first
        where = f" ({target})" if target and str(target) != str(root) else ""
        if exc.errno in READ_ONLY:
            return f"the library folder {root} is on a read-only file system"
        if exc.errno in DENIED:
            return f"this user may not use the library folder {root}{where}: check its permissions"
        return f"the library folder {root} could not be written: {exc.strerror or exc}{where}"
    return f"the library at {root} failed: {exc}"


def _describe_sqlite(exc: sqlite3.Error, root: Path) -> str:
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return _why_not_writable(root) or f"the library index in {root} can't be opened or written"
    if "locked" in text or "busy" in text:
        return "the library index is busy (another program holds it): try again in a moment"
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text):
        return "the library index is damaged: `lora-studio library reindex` rebuilds it from the folders"
    return f"the library index in {root} failed: {exc}"


def _why_not_writable(root: Path) -> str | None:
    """What SQLite's "unable to open" means here: a read-only mount, or not this user's folder."""
    folder = root if root.is_dir() else root.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"the library folder {root} is on a read-only file system"
    except OSError:
        pass
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"this user may not use the library folder {root}: check its permissions"
    return None

