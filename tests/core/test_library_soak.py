"""Soak: 1,000+ random library operations from 3 processes killed at random moments.

Each process owns one adapter name and journals every operation twice, an intent
before and a "done" after it returns (fsynced), so the test knows which operations
completed. Afterwards, once a reader has synced the index (a writer killed between its
folder move and its index update leaves the index one step behind, which every read
repairs), the index and the folders agree (``Library.check``), and every
completed operation is still there: each journaled add exists with its parents, each
journaled tag is on its version, each version is in the trash or not as its last
journaled delete/restore left it (a version whose last operation was cut short by a
kill may be either).
"""

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
PROCESSES, OPERATIONS = 3, 1_000

SOAKER = r"""
import json, os, random, sys
from pathlib import Path
sys.path.insert(0, {here!r})
from studio.core.cards import Card
from studio.core.library import Library, LibraryError

src, name, journal_path, seed, budget = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
live, trashed, done = [], [], 0
uncertain = set()
if journal_path.exists():
    pending = None
    for line in journal_path.read_text().splitlines():
        rec = json.loads(line)
        if "intent" in rec:
            if pending is not None and pending.get("ref"):
                uncertain.add(pending["ref"])  # an earlier life was killed mid-operation on it
            pending = rec
            continue
        pending, done = None, done + 1
        ref = rec.get("ref")
        if rec["done"] in ("add", "merge") or rec["done"] == "restore":
            trashed = [r for r in trashed if r != ref]; live.append(ref)
        elif rec["done"] == "delete":
            live = [r for r in live if r != ref]; trashed.append(ref)
    if pending is not None and pending.get("ref"):
        uncertain.add(pending["ref"])  # cut short: either outcome; leave it alone
live = [r for r in live if r not in uncertain]
trashed = [r for r in trashed if r not in uncertain]
journal = open(journal_path, "a")

def log(rec):
    journal.write(json.dumps(rec) + "\n"); journal.flush(); os.fsync(journal.fileno())

rng = random.Random(seed * 1000 + done)
lib = Library()
while done < budget:
    op = rng.choices(["add", "tag", "delete", "restore", "merge", "reindex"], [5, 4, 2, 2, 2, 1])[0]
    if op in ("tag", "delete") and not live or op == "restore" and not trashed or op == "merge" and len(live) < 2:
        op = "add"
    if op == "add":
        log({{"intent": "add"}})
        ref = lib.add(src, Card(name=name), name=name).ref
        log({{"done": "add", "ref": ref}}); live.append(ref)
    elif op == "merge":
        parents = rng.sample(live, 2)
        log({{"intent": "merge", "parents": parents}})
        ref = lib.add(src, Card(name=name), name=name, parents=parents).ref
        log({{"done": "merge", "ref": ref, "parents": parents}}); live.append(ref)
    elif op == "tag":
        ref, tag = rng.choice(live), "t%d" % rng.randrange(1000)
        log({{"intent": "tag", "ref": ref}})
        lib.tag(ref, add=[tag])
        log({{"done": "tag", "ref": ref, "tag": tag}})
    elif op == "delete":
        ref = rng.choice(live)
        log({{"intent": "delete", "ref": ref}})
        lib.delete(ref)
        log({{"done": "delete", "ref": ref}}); live.remove(ref); trashed.append(ref)
    elif op == "restore":
        ref = rng.choice(trashed)
        log({{"intent": "restore", "ref": ref}})
        lib.restore(ref)
        log({{"done": "restore", "ref": ref}}); trashed.remove(ref); live.append(ref)
    else:
        log({{"intent": "reindex"}})
        lib.rebuild()
        log({{"done": "reindex"}})
    done += 1
"""


def completed(journal: Path) -> int:
    if not journal.exists():
        return 0
    return sum(1 for line in journal.read_text().splitlines() if line.startswith('{"done"'))


def expected_state(journal: Path) -> tuple[dict[str, dict], set[str]]:
    """ref -> {"trashed", "tags", "parents"} as the completed operations left it, and the
    refs whose operation a kill cut short (an intent with no "done" after it)."""
    state: dict[str, dict] = {}
    uncertain: set[str] = set()
    pending = None
    for line in journal.read_text().splitlines():
        rec = json.loads(line)
        if "intent" in rec:
            if pending is not None and pending.get("ref"):
                uncertain.add(pending["ref"])
            pending = rec
            continue
        pending = None
        ref = rec.get("ref")
        if rec["done"] in ("add", "merge"):
            state[ref] = {"trashed": False, "tags": set(), "parents": rec.get("parents", [])}
        elif rec["done"] == "tag":
            state[ref]["tags"].add(rec["tag"])
        elif rec["done"] in ("delete", "restore"):
            state[ref]["trashed"] = rec["done"] == "delete"
    if pending is not None and pending.get("ref"):
        uncertain.add(pending["ref"])
    return state, uncertain


def start(source: Path, index: int, journal: Path, budget: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SOAKER.format(here=str(HERE)), str(source), f"soak{index}",
                             str(journal), str(index), str(budget)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


@pytest.mark.slow
def test_a_thousand_operations_from_three_killed_processes_lose_nothing(studio_home: Path, tmp_path: Path):
    source = make_adapter(tmp_path / "adapter")
    budget = -(-OPERATIONS // PROCESSES)
    journals = [tmp_path / f"journal{i}.jsonl" for i in range(PROCESSES)]
    procs = [start(source, i, journals[i], budget) for i in range(PROCESSES)]
    rng = random.Random(7)
    kills = 0
    deadline = time.monotonic() + 600
    while any(completed(j) < budget for j in journals):
        assert time.monotonic() < deadline, "the soak did not finish in 10 minutes"
        time.sleep(rng.uniform(0.02, 0.25))
        index = rng.randrange(PROCESSES)
        if procs[index].poll() is None and completed(journals[index]) < budget:
            procs[index].send_signal(signal.SIGKILL)
            procs[index].wait()
            kills += 1
        for i, proc in enumerate(procs):
            if proc.poll() is not None and completed(journals[i]) < budget:
                if proc.returncode not in (0, -signal.SIGKILL):
                    raise AssertionError(f"soaker {i} failed: {proc.stderr.read()[-2000:]}")
                procs[i] = start(source, i, journals[i], budget)
    for proc in procs:
        assert proc.wait(timeout=60) in (0, -signal.SIGKILL)

    library = Library()
    try:
        actual = {e.ref: e for e in library.entries(include_trashed=True)}  # syncs, as every reader does
        problems = library.check()
        lost = []
        for journal in journals:
            state, uncertain = expected_state(journal)
            for ref, want in state.items():
                got = actual.get(ref)
                if got is None:
                    lost.append(f"{ref}: gone")
                    continue
                if ref not in uncertain and got.trashed != want["trashed"]:
                    lost.append(f"{ref}: trashed={got.trashed}, expected {want['trashed']}")
                if not want["tags"] <= set(got.tags):
                    lost.append(f"{ref}: tags {sorted(want['tags'] - set(got.tags))} lost")
                if want["parents"] and list(got.parents) != want["parents"]:
                    lost.append(f"{ref}: parents {got.parents}, expected {want['parents']}")
    finally:
        library.close()
    operations = sum(completed(j) for j in journals)
    print(f"\nsoak: {operations} operations, {kills} kills, {len(problems) + len(lost)} inconsistencies")
    assert operations >= OPERATIONS and kills >= 20
    assert problems == [] and lost == []
