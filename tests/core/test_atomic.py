"""Atomic writes: after a crash at any moment, the old state or the new one, never half."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from studio.core import atomic

REPO = Path(__file__).resolve().parents[2]
FILES = 40
FILE_SIZE = 64 * 1024


def hidden_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def folder_state(target: Path) -> str:
    """'absent', 'old' or 'new' for a folder written by WRITER; fails on anything partial."""
    if not target.exists():
        return "absent"
    names = sorted(p.name for p in target.iterdir())
    assert names == sorted([f"part-{i:03d}.bin" for i in range(FILES)] + ["done.json"]), names
    tags = set()
    for i in range(FILES):
        data = (target / f"part-{i:03d}.bin").read_bytes()
        assert len(data) == FILE_SIZE, f"part-{i:03d} is {len(data)} bytes"
        tag = data[:3].decode()
        assert data == fill(tag, i), f"part-{i:03d} has mixed content"
        tags.add(tag)
    assert len(tags) == 1, tags
    (tag,) = tags
    assert json.loads((target / "done.json").read_text()) == {"tag": tag, "files": FILES}
    return tag


def fill(tag: str, i: int) -> bytes:
    line = f"{tag}{i:05d}".encode()
    return (line * (FILE_SIZE // len(line) + 1))[:FILE_SIZE]


def write_folder(stage: Path, tag: str) -> None:
    for i in range(FILES):
        (stage / f"part-{i:03d}.bin").write_bytes(fill(tag, i))
    atomic.write_json(stage / "done.json", {"tag": tag, "files": FILES})


WRITER = textwrap.dedent(
    f"""
    import json, sys
    from pathlib import Path
    from studio.core import atomic

    FILES, FILE_SIZE = {FILES}, {FILE_SIZE}

    def fill(tag, i):
        line = f"{{tag}}{{i:05d}}".encode()
        return (line * (FILE_SIZE // len(line) + 1))[:FILE_SIZE]

    target = Path(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    with atomic.staged_dir(target) as stage:
        for i in range(FILES):
            (stage / f"part-{{i:03d}}.bin").write_bytes(fill("new", i))
        atomic.write_json(stage / "done.json", {{"tag": "new", "files": FILES}})
    print("finished", flush=True)
    """
)


def start_writer(target: Path, code: str = WRITER) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return proc


# -- files ---------------------------------------------------------------------


def test_write_json_replaces_atomically(tmp_path: Path):
    path = tmp_path / "sub" / "card.json"
    atomic.write_json(path, {"b": 1, "a": [1, 2], "name": "café"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": [1, 2], "b": 1, "name": "café"}
    assert path.read_text(encoding="utf-8").index('"a"') < path.read_text(encoding="utf-8").index('"b"')
    inode = path.stat().st_ino
    atomic.write_json(path, {"b": 2})
    assert json.loads(path.read_text()) == {"b": 2}
    assert path.stat().st_ino != inode  # a new file renamed over, not rewritten in place
    assert hidden_entries(path.parent) == []


def test_write_text_and_bytes(tmp_path: Path):
    path = tmp_path / "README.md"
    atomic.write_text(path, "old")
    atomic.write_text(path, "# new ☠\n")
    assert path.read_text(encoding="utf-8") == "# new ☠\n"
    atomic.write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert hidden_entries(tmp_path) == []


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "data.json"
    atomic.write_json(path, {"ok": True})
    with pytest.raises(TypeError):
        atomic.write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": True}

    def failing_fsync(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        atomic.write_text(path, "new")
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"ok": True}
    assert hidden_entries(tmp_path) == []


# -- folders -------------------------------------------------------------------


def test_staged_dir_creates_a_new_folder(tmp_path: Path):
    target = tmp_path / "library" / "captain" / "v1"
    with atomic.staged_dir(target) as stage:
        assert stage.parent == target.parent and stage.name.startswith(".")
        assert not target.exists()
        write_folder(stage, "new")
    assert folder_state(target) == "new"
    assert hidden_entries(target.parent) == []


def test_staged_dir_replaces_an_existing_folder(tmp_path: Path):
    target = tmp_path / "adapter"
    with atomic.staged_dir(target) as stage:
        write_folder(stage, "old")
        (stage / "only-in-old.txt").write_text("x")
    with atomic.staged_dir(target) as stage:
        write_folder(stage, "new")
    assert folder_state(target) == "new"  # nothing of the old folder is left inside
    assert hidden_entries(tmp_path) == []


def test_exception_inside_staged_dir_keeps_the_old_folder(tmp_path: Path):
    target = tmp_path / "adapter"
    with atomic.staged_dir(target) as stage:
        write_folder(stage, "old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic.staged_dir(target) as stage:
        (stage / "part-000.bin").write_bytes(b"half")
        raise RuntimeError("disk on fire")
    assert folder_state(target) == "old"
    assert hidden_entries(tmp_path) == []


def test_exception_inside_staged_dir_without_an_old_folder(tmp_path: Path):
    target = tmp_path / "adapter"
    with pytest.raises(KeyboardInterrupt), atomic.staged_dir(target) as stage:
        (stage / "x").write_text("x")
        raise KeyboardInterrupt
    assert not target.exists()
    assert hidden_entries(tmp_path) == []


def test_clean_leftovers(tmp_path: Path):
    (tmp_path / ".adapter.k3j2.staging").mkdir()
    (tmp_path / ".adapter.k3j2.staging" / "half.bin").write_bytes(b"x")
    (tmp_path / ".card.json.abc.tmp").write_text("{")
    (tmp_path / "adapter").mkdir()
    (tmp_path / ".adapter.old-1234").mkdir()  # the new folder is in place: the old is stale
    keep = [tmp_path / "job.json", tmp_path / ".hidden-config", tmp_path / "checkpoints"]
    keep[0].write_text("{}")
    keep[1].write_text("x")
    keep[2].mkdir()
    removed = atomic.clean_leftovers(tmp_path)
    assert sorted(p.name for p in removed) == [".adapter.k3j2.staging", ".adapter.old-1234",
                                               ".card.json.abc.tmp"]
    assert all(p.exists() for p in keep)
    assert (tmp_path / "adapter").is_dir()
    assert hidden_entries(tmp_path) == [".hidden-config"]
    assert atomic.clean_leftovers(tmp_path) == []


def test_clean_leftovers_restores_an_old_folder_whose_target_is_gone(tmp_path: Path):
    # The state a crash leaves between "move the old folder aside" and "move the new one in".
    old = tmp_path / ".adapter.old-4321"
    old.mkdir()
    write_folder(old, "old")
    (tmp_path / ".adapter.x1y2.staging").mkdir()
    atomic.clean_leftovers(tmp_path)
    assert folder_state(tmp_path / "adapter") == "old"
    assert hidden_entries(tmp_path) == []


def test_kill_between_the_two_renames_loses_nothing(tmp_path: Path):
    """Deterministically kill the writer in the one window where ``target`` is missing."""
    target = tmp_path / "adapter"
    with atomic.staged_dir(target) as stage:
        write_folder(stage, "old")
    code = WRITER.replace(
        "target = Path(sys.argv[1])",
        "import os, signal\n"
        "real_replace = os.replace\n"
        "def replace(src, dst):\n"
        "    real_replace(src, dst)\n"
        "    if '.old-' in str(dst):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.replace = replace\n"
        "target = Path(sys.argv[1])",
    )
    proc = start_writer(target, code)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.wait(timeout=20) == -signal.SIGKILL
    assert not target.exists()
    atomic.clean_leftovers(tmp_path)
    assert folder_state(target) == "old"
    assert hidden_entries(tmp_path) == []


def test_sigkill_at_a_random_moment_never_leaves_half_a_folder(tmp_path: Path):
    rng = random.Random(1234)
    # How long one full write takes here, to spread the kills over it.
    probe = start_writer(tmp_path / "probe")
    started = time.monotonic()
    probe.stdin.write("go\n")
    probe.stdin.flush()
    assert probe.stdout.readline() == "finished\n"
    duration = time.monotonic() - started
    assert probe.wait(timeout=20) == 0
    assert folder_state(tmp_path / "probe") == "new"

    seen = []
    for i in range(8):
        parent = tmp_path / f"round-{i}"
        parent.mkdir()
        target = parent / "adapter"
        had_old = i % 4 != 3  # mostly replacing an existing folder, sometimes a first write
        if had_old:
            with atomic.staged_dir(target) as stage:
                write_folder(stage, "old")
        proc = start_writer(target)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(rng.uniform(0, duration * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)

        state = folder_state(target)
        assert state in (("old", "new") if had_old else ("absent", "new")) or (
            state == "absent" and any(".old-" in name for name in hidden_entries(parent))
        ), state
        atomic.clean_leftovers(parent)
        after = folder_state(target)
        assert after in (("old", "new") if had_old else ("absent", "new")), after
        assert hidden_entries(parent) == []
        seen.append(after)
    assert seen  # the mix of old/new depends on timing; each one was complete
