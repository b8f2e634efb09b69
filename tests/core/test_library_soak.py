"""Soak: 1,000+ random library operations from 3 processes killed at random moments, then
the same processes on a full disk and on a read-only library.

Each process owns one adapter name and journals every operation twice, an intent
before and a "done" after it returns (fsynced), so the test knows which operations
completed; an operation the library refused (a LibraryError) is journaled as refused.
Besides adds, tags, merges, deletes, restores and reindexes, each process files its own
finished runs (``add_run``) again and again, as a run resumed after a kill does: a run is
filed once, whatever happens. Afterwards, once a reader has synced the index (a writer
killed between its folder move and its index update leaves the index one step behind,
which every read repairs), the index and the folders agree (``Library.check``), and
every completed operation is still there: each journaled add exists with its parents,
each journaled tag is on its version, each version is in the trash or not as its last
journaled delete/restore left it (a version whose last operation was cut short by a
kill may be either), and no run has two versions.

The full disk and the read-only library are real (a tmpfs filled up, then remounted
read-only) where the machine lets the test mount one; elsewhere the soakers inject the
same errors (ENOSPC, EROFS) at the library's call sites.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_disks import fill, remount, tmpfs_or_not
from library_support import make_adapter

from studio.core.cards import Card, write_card
from studio.core.library import Library

pytestmark = pytest.mark.integration  # starts processes (tests/conftest.py's quick-tier guard)

HERE = Path(__file__).resolve().parent
PROCESSES, OPERATIONS = 3, 1_000
FAULT_OPERATIONS = 40  # per process and fault phase: every one refused in a sentence or done
RUNS = 6  # finished runs per process, filed again and again

SOAKER = r"""
import json, os, random, sys
from pathlib import Path
sys.path.insert(0, {here!r})
from studio.core.cards import Card
from studio.core.library import Library, LibraryError

src, name, journal_path, seed, budget = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
runs_dir = Path(sys.argv[6])
fault = os.environ.get("SOAK_FAULT", "")
if fault:  # this machine can't mount a full or read-only disk: the same errors, at the same calls
    import errno, shutil, sqlite3
    from studio.core import atomic
    from studio.core.library.index import LibraryIndex
    def refuse(*_a, **_k):
        raise OSError(errno.ENOSPC if fault == "inject-full" else errno.EROFS, "injected")
    def index_full(*_a, **_k):
        raise sqlite3.OperationalError("database or disk is full")
    if fault == "inject-full":
        shutil.copyfile = refuse; atomic.write_bytes = refuse
        LibraryIndex.upsert = index_full; LibraryIndex.replace_all = index_full
    else:
        atomic.locked = refuse  # every writer takes the lock first
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
        if rec["done"] in ("add", "merge", "restore", "file"):
            trashed = [r for r in trashed if r != ref]; live = [r for r in live if r != ref] + [ref]
        elif rec["done"] == "delete":
            live = [r for r in live if r != ref]; trashed.append(ref)
    if pending is not None and pending.get("ref"):
        uncertain.add(pending["ref"])  # cut short: either outcome; leave it alone
live = [r for r in live if r not in uncertain]
trashed = [r for r in trashed if r not in uncertain]
journal = open(journal_path, "a")

def log(rec):
    journal.write(json.dumps(rec) + "\n"); journal.flush(); os.fsync(journal.fileno())

"""

STEPS = r"""
def step(op):
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
    elif op == "file":
        run = runs_dir / ("run%d" % rng.randrange(len(list(runs_dir.iterdir()))))
        log({{"intent": "file", "run": run.name}})
        ref = lib.add_run(run).ref
        log({{"done": "file", "ref": ref, "run": run.name}})
        trashed[:] = [r for r in trashed if r != ref]; live[:] = [r for r in live if r != ref] + [ref]
    else:
        log({{"intent": "reindex"}})
        lib.rebuild()
        log({{"done": "reindex"}})
"""

LOOP = r"""
rng = random.Random(seed * 1000 + done)
lib = Library()
while done < budget:
    op = rng.choices(["add", "tag", "delete", "restore", "merge", "reindex", "file"], [5, 4, 2, 2, 2, 1, 3])[0]
    if op in ("tag", "delete") and not live or op == "restore" and not trashed or op == "merge" and len(live) < 2:
        op = "add"
    try:
        step(op)
    except LibraryError as exc:  # a sentence, never a traceback: the operation did not happen
        log({{"done": "refused", "op": op, "why": str(exc)}})
    done += 1
"""


def completed(journal: Path) -> int:
    if not journal.exists():
        return 0
    return sum(1 for line in journal.read_text().splitlines() if line.startswith('{"done"'))


def expected_state(journal: Path) -> tuple[dict[str, dict], set[str], dict[str, set[str]]]:
    """ref -> {"trashed", "tags", "parents"} as the completed operations left it, the refs
    whose operation a kill cut short (an intent with no "done" after it), and run -> the
    refs its completed filings returned (one each, when runs are filed once)."""
    state: dict[str, dict] = {}
    uncertain: set[str] = set()
    filed: dict[str, set[str]] = {}
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
        elif rec["done"] == "file":
            state.setdefault(ref, {"trashed": False, "tags": set(), "parents": []})["trashed"] = False
            filed.setdefault(rec["run"], set()).add(ref)
        elif rec["done"] == "tag":
            state[ref]["tags"].add(rec["tag"])
        elif rec["done"] in ("delete", "restore"):
            state[ref]["trashed"] = rec["done"] == "delete"
    if pending is not None and pending.get("ref"):
        uncertain.add(pending["ref"])
    return state, uncertain, filed


def refusals(journal: Path) -> list[dict]:
    return [rec for rec in map(json.loads, journal.read_text().splitlines()) if rec.get("done") == "refused"]


def make_runs(folder: Path, source: Path, name: str) -> Path:
    """RUNS finished runs of one soaker, as the worker leaves them (``<run>/adapter`` with its card)."""
    for k in range(RUNS):
        adapter = folder / f"run{k}" / "adapter"
        shutil.copytree(source, adapter)
        write_card(adapter, Card(name=name, run_id=f"{name}-run{k}"))
    return folder


def start(source: Path, index: int, journal: Path, budget: int, runs: Path, fault: str = "") -> subprocess.Popen:
    env = {**os.environ, "SOAK_FAULT": fault}
    script = (SOAKER + STEPS + LOOP).format(here=str(HERE))
    return subprocess.Popen([sys.executable, "-c", script, str(source), f"soak{index}", str(journal), str(index),
                             str(budget), str(runs)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)


def run_phase(source: Path, journals: list[Path], runs: list[Path], budget: int, fault: str) -> None:
    """Every soaker on to ``budget`` operations, unkilled, each ending cleanly (a refusal is fine)."""
    procs = [start(source, i, journals[i], budget, runs[i], fault) for i in range(PROCESSES)]
    for i, proc in enumerate(procs):
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and completed(journals[i]) >= budget, f"soaker {i} ({fault}) failed: {err[-2000:]}"


@pytest.mark.slow
def test_a_thousand_operations_from_three_killed_processes_lose_nothing(studio_home: Path, tmp_path: Path):
    with tmpfs_or_not(studio_home / "library", "256m") as mounted:
        soak(studio_home / "library", tmp_path, mounted)


def soak(root: Path, tmp_path: Path, mounted: bool) -> None:
    source = make_adapter(tmp_path / "adapter")
    budget = -(-OPERATIONS // PROCESSES)
    journals = [tmp_path / f"journal{i}.jsonl" for i in range(PROCESSES)]
    runs = [make_runs(tmp_path / f"runs{i}", source, f"soak{i}") for i in range(PROCESSES)]
    procs = [start(source, i, journals[i], budget, runs[i]) for i in range(PROCESSES)]
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
                    raise AssertionError(f"soaker {i} failed: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
                procs[i] = start(source, i, journals[i], budget, runs[i])
    for proc in procs:
        assert proc.wait(timeout=60) in (0, -signal.SIGKILL)
    before_faults = [len(refusals(j)) for j in journals]
    assert all("in the trash" in r["why"] for j in journals for r in refusals(j)), "a healthy library refused"

    budget += FAULT_OPERATIONS  # the disk full: every write refused in a sentence, or done
    if mounted:
        fill(root)
    run_phase(source, journals, runs, budget, "" if mounted else "inject-full")
    (root / ".filler").unlink(missing_ok=True)
    budget += FAULT_OPERATIONS  # read-only: every write refused in a sentence
    if mounted:
        assert remount(root, "ro"), "the library's tmpfs did not remount read-only"
    try:
        run_phase(source, journals, runs, budget, "" if mounted else "inject-read-only")
    finally:
        if mounted:
            remount(root, "rw")
    refused = [len(refusals(j)) - n for j, n in zip(journals, before_faults, strict=True)]
    assert sum(refused) >= PROCESSES * FAULT_OPERATIONS, "the read-only phase changed the library"

    library = Library()
    try:
        actual = {e.ref: e for e in library.entries(include_trashed=True)}  # syncs, as every reader does
        problems = library.check()
        lost, duplicates, unfiled = [], [], []
        for journal in journals:
            state, uncertain, filed = expected_state(journal)
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
            duplicates += [f"{run} filed as {sorted(refs)}" for run, refs in filed.items() if len(refs) > 1]
        by_run: dict[str, list[str]] = {}
        for entry in actual.values():
            if entry.run_id:
                by_run.setdefault(entry.run_id, []).append(entry.ref)
        duplicates += [f"{run}: {sorted(refs)}" for run, refs in by_run.items() if len(refs) > 1]
        unfiled = [f"soak{i}-run{k}" for i in range(PROCESSES) for k in range(RUNS) if f"soak{i}-run{k}" not in by_run]
    finally:
        library.close()
    operations = sum(completed(j) for j in journals)
    lost_versions = [line for line in lost if line.endswith(": gone")]
    lost_tags = [line for line in lost if " tags " in line]
    print(f"\nsoak ({'mounted tmpfs' if mounted else 'injected faults'}): {operations} operations, {kills} kills, "
          f"{sum(refused)} refused on a full or read-only disk; {len(by_run)} of {PROCESSES * RUNS} runs filed; "
          f"lost versions {len(lost_versions)}, runs never filed {len(unfiled)}, duplicate versions "
          f"{len(duplicates)}, lost tags {len(lost_tags)}, other inconsistencies "
          f"{len(problems) + len(lost) - len(lost_versions) - len(lost_tags)}")
    assert operations >= OPERATIONS and kills >= 20
    assert problems == [] and lost == [] and duplicates == [] and unfiled == []
