"""A real full disk and a real read-only library for the fault tests.

A small tmpfs mounted over a folder (root only) is a disk that fills up for real; a folder
bind-mounted read-only over itself gives EROFS from the kernel. Without root, a folder made
unwritable (chmod) is read-only for real too. Where neither works the test is skipped,
with the reason; the in-process tests inject the same errors at the library's call sites.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*args: str) -> bool:
    try:
        return subprocess.run(args, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def tmpfs_or_not(folder: Path, size: str) -> Iterator[bool]:
    """``folder`` on a tmpfs of ``size``, its contents copied in; yields False (and mounts
    nothing) where this machine can't mount one."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        yield False
        return
    saved = folder.with_name(folder.name + ".before-mount")
    shutil.copytree(folder, saved)
    if not _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)):
        shutil.rmtree(saved)
        yield False
        return
    try:
        shutil.copytree(saved, folder, dirs_exist_ok=True)
        yield True
    finally:
        _run("umount", "-l", str(folder))
        shutil.rmtree(saved, ignore_errors=True)


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "2m") -> Iterator[Path]:
    """``folder`` on a tmpfs of ``size``; skipped where none can be mounted."""
    with tmpfs_or_not(folder, size) as mounted:
        if not mounted:
            pytest.skip("a full disk needs a tmpfs mount (root with CAP_SYS_ADMIN); "
                        "the injected ENOSPC tests cover the same call sites")
        yield folder


def fill(folder: Path) -> None:
    """Use up every free byte of the disk ``folder`` is on."""
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 16, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """``folder`` read-only for real: a tmpfs remounted ro (root), else its modes without 'w'.
    Yields how ("mount" or "chmod")."""
    if os.geteuid() == 0:  # root writes through any mode: only a read-only mount stops it
        folder.mkdir(parents=True, exist_ok=True)
        if not _run("mount", "--bind", str(folder), str(folder)):
            pytest.skip("this machine refuses bind mounts (a container without CAP_SYS_ADMIN?)")
        try:
            if not _run("mount", "-o", "remount,ro,bind", str(folder)):
                pytest.skip("this machine refuses to remount a folder read-only")
            yield "mount"
        finally:
            _run("umount", "-l", str(folder))
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
    for path in modes:
        path.chmod(modes[path] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield "chmod"
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def remount(folder: Path, mode: str) -> bool:
    """Remount the tmpfs at ``folder`` ``ro`` or ``rw``."""
    return _run("mount", "-o", f"remount,{mode}", str(folder))
