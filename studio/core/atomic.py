"""Atomic writes: a crash at any moment leaves the old state or the new one.

Files are written to a temp name beside the target, fsynced, then renamed over it;
folders are built in a temp folder beside the target and renamed into place. A
reader therefore never sees half a file or half an adapter.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Exclusive across processes (a read-modify-write of a shared file); the kernel
    drops it if the holder dies. Not re-entrant."""
    with open(lock_file, "a+") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def fsync_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(Path(folder))


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; on success it replaces ``target`` atomically.

    An existing ``target`` is moved aside first and removed only after the new folder
    is in place, so a crash leaves one complete folder (old or new) plus, at worst, a
    hidden leftover that :func:`clean_leftovers` removes.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    try:
        yield stage
        fsync_tree(stage)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(stage, target)
        fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove staging folders and temp files that a killed writer left in ``folder``.

    A writer killed between moving the old folder aside and moving the new one in
    leaves no target at all: the old folder is put back rather than removed.
    """
    removed = []
    for entry in sorted(Path(folder).glob(".*")):
        if ".old-" in entry.name and entry.is_dir():
            target = entry.with_name(entry.name[1:].rsplit(".old-", 1)[0])
            if not target.exists():
                os.replace(entry, target)
                continue
        if entry.name.endswith((".staging", ".tmp")) or ".old-" in entry.name:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
