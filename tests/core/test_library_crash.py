"""Writers killed at random moments, and writers racing: the library stays consistent."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from library_support import make_adapter

from studio.core.library import Library

pytestmark = pytest.mark.integration  # starts processes (tests/conftest.py's quick-tier guard)

HERE = Path(__file__).resolve().parent
WRITER = """
import itertools, sys
from pathlib import Path

import pytest
sys.path.insert(0, {here!r})
from studio.core.cards import Card
from studio.core.outputs import TrainMetrics
from studio.core.library import Library, LibraryError
lib = Library()
src = Path(sys.argv[1])
for i in itertools.count():
    entry = lib.add(src, Card(name=sys.argv[2], metrics=TrainMetrics(train_loss=float(i))))
    lib.tag(entry.ref, add=["t%d" % i])
    if i % 3 == 0:
        lib.delete(entry.ref)
    if i % 3 == 1 and lib.search(trashed=True):
        try:
            lib.restore(lib.search(trashed=True)[0].ref)
        except LibraryError:  # another writer restored it first
            pass
    print(i, flush=True)
    if len(sys.argv) > 3 and i + 1 >= int(sys.argv[3]):
        break
"""


def start_writer(source: Path, name: str, count: int | None = None) -> subprocess.Popen:
    args = [sys.executable, "-c", WRITER.format(here=str(HERE)), str(source), name]
    if count is not None:
        args.append(str(count))
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def assert_consistent(root: Path) -> int:
    library = Library()
    try:
        entries = library.entries(include_trashed=True)
        on_disk = library.scan()
        assert sorted((e.ref, e.trashed, e.tags) for e in entries) == sorted((e.ref, e.trashed, e.tags)
                                                                             for e in on_disk)
        for entry in entries:
            folder = Path(entry.path)
            assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
            card = json.loads((folder / "card.json").read_text())  # never half a card
            assert (card["name"], card["version"]) == (entry.name, entry.version)
        assert library.check() == []
        return len(entries)
    finally:
        library.close()


def test_killed_writers_leave_old_or_new_state(studio_home: Path, tmp_path: Path):
    source = make_adapter(tmp_path / "src")
    rng = random.Random(5)
    total = 0
    for _round in range(12):
        writer = start_writer(source, "crash")
        assert writer.stdout.readline()  # it is up and has written at least once
        time.sleep(rng.uniform(0.0, 0.15))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        total = assert_consistent(studio_home / "library")
    assert total >= 12
    library = Library()
    assert library.rebuild() == total  # a full rebuild agrees and sweeps the leftovers
    assert not [p for p in (studio_home / "library" / "crash").iterdir() if p.name.startswith(".")]
    library.close()


def test_racing_writers_never_share_a_version(studio_home: Path, tmp_path: Path):
    source = make_adapter(tmp_path / "src")
    writers = [start_writer(source, "race", count=10) for _ in range(3)]
    for writer in writers:
        _out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    library = Library()
    refs = [e.ref for e in library.entries(include_trashed=True)]
    assert len(refs) == len(set(refs)) == 30
    assert sorted(e.version for e in library.entries(include_trashed=True)) == list(range(1, 31))
    library.close()
