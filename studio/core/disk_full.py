"""Whether a failure was a full disk, whatever library raised it.

A full disk surfaces in many words: ``OSError(ENOSPC)`` from Python's own writes, the
safetensors writer's ``SafetensorError(... StorageFull ... No space left on device)``,
torch.save's ``RuntimeError([enforce fail at inline_container.cc] unexpected pos 704 vs 598)``
(its zip writer's short write) or ``file write failed``, SQLite's "database or disk is full".
Only the plain OSError used to be recognised, so a real full disk during a save was an
"internal" error with no resume hint (issue 22). The chain (``__cause__``/``__context__``)
is searched too: a library often re-raises its own error from the OSError.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# Words the writers above use for ENOSPC/EDQUOT, lower case.
_FULL_WORDS = ("no space left on device", "storagefull", "disk quota exceeded", "database or disk is full",
               "file write failed", "unexpected pos")
NO_ROOM_BYTES = 1 << 20  # free space under which a failed write is taken for a full disk


def is_disk_full(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
            return True
        text = str(exc).lower()
        if any(words in text for words in _FULL_WORDS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def full_path(exc: BaseException | None) -> str | None:
    """The file being written when the disk filled, where the error names it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.filename:
            return str(exc.filename)
        exc = exc.__cause__ or exc.__context__
    return None


def no_room(folder: Path) -> bool:
    """The disk holding ``folder`` is (all but) full: what a write error that names no cause
    most likely meant there."""
    try:
        info = os.statvfs(folder)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < NO_ROOM_BYTES
