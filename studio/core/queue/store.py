"""The run queue: jobs waiting their turn, in ``<home>/queue/queue.sqlite``.

SQLite because the queue has several writers at once (the runner, the CLI, the app)
and each change must be whole: a change is one transaction, so a runner or an app
killed mid-way leaves the queue as it was before or after, never half. WAL mode and a
busy timeout let them read and write together. The job itself is stored as the JSON
the worker reads, so a queued job runs exactly as it was added, whatever the Train
page shows later.

An entry moves queued -> starting (a run folder made, its worker being started) ->
running -> done | stopped | failed | cancelled | pruned. ``starting`` is how a runner killed
between making the folder and starting the worker is told apart from one that started
it: the next runner looks for that worker before starting it (runner.py).

``pruned`` is a sweep's trial its pruner gave up on: its worker is cancelled like any other,
but the user did not cancel it, and a retry of it alone, outside its study, would count for
nothing there (NOT_RETRIED). Who ends a started entry for a reason of their own (the sweep driver) says so before
its worker is told (``ask_to_end``); the ask is kept in the entry, so whichever runner sees the
worker end, this one or one started after it was killed, records that end and reason rather
than the worker's "cancelled by the user".
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from studio.core import paths
from studio.core.job_schema import dumps, job_from_dict
from studio.core.jobs import Job

BUSY_TIMEOUT_MS = 10_000
QUEUE_KINDS = ("train", "eval")  # jobs that hold a GPU until they end (merge/export are quick, run by hand)
WAITING = ("queued",)
ACTIVE = ("starting", "running")
PRUNED = "pruned"
ENDED = ("done", "stopped", "failed", "cancelled", PRUNED)
RETRIABLE = ("failed", "stopped", "cancelled")  # not pruned: a trial is judged only within its study
NOT_RETRIED = ("A trial its sweep pruned is not retried: the sweep stopped it on comparing it with the other "
               "trials of its study, and a run outside the sweep would not count in the study.")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    position REAL NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    job TEXT NOT NULL,
    state TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    devices TEXT NOT NULL DEFAULT '',
    run_dir TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    added_t REAL NOT NULL,
    started_t REAL,
    ended_t REAL,
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    eta_s REAL,
    message TEXT NOT NULL DEFAULT '',
    ending TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class QueueError(ValueError):
    """A queue change that can't be made, in words for the user."""


@dataclass
class Entry:
    id: int
    position: float
    label: str
    kind: str
    job: str  # the job's JSON, as the worker will read it
    state: str
    source: str = ""  # who added it: "cli", "app", "sweep <name> trial <n>"
    devices: str = ""  # the device slots it was given ("0", "0,1", "cpu"), once started
    run_dir: str = ""
    pid: int | None = None
    attempts: int = 0
    added_t: float = 0.0
    started_t: float | None = None
    ended_t: float | None = None
    step: int = 0
    total_steps: int = 0
    eta_s: float | None = None
    message: str = ""  # how it ended (the worker's words, or a pruned trial's reason), or why it waits
    ending: str = ""  # the end a started entry was asked to come to (PRUNED), its reason in message

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        keys = row.keys()  # a read-only queue of an older version lacks the newer columns
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in keys})

    @property
    def note(self) -> str:
        """The Run / note column (Queue page, `queue list`): an ended or waiting entry's own words
        (a pruned trial's reason, a failure), else its run folder's name; "" when it has neither."""
        if self.state not in ACTIVE and self.message:
            return self.message
        return Path(self.run_dir).name if self.run_dir else ""

    def job_data(self) -> dict[str, Any]:
        data = json.loads(self.job)
        return data if isinstance(data, dict) else {}


DB_NAME = "queue.sqlite"


def queue_dir(make: bool = True) -> Path:
    folder = paths.home() / "queue"
    if not make:
        return folder
    folder.mkdir(parents=True, exist_ok=True, mode=paths.PRIVATE_DIR)
    return folder


class QueueStore:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else queue_dir() / DB_NAME
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        with contextlib.suppress(sqlite3.OperationalError):  # a read-only folder still reads
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(entries)")}
        if "ending" not in columns:  # a queue made before pruned trials had a state of their own
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                self._db.execute("ALTER TABLE entries ADD COLUMN ending TEXT NOT NULL DEFAULT ''")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> QueueStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One change, whole: BEGIN IMMEDIATE takes the write lock first, so two writers
        can't both read the same queued entry and start it twice."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------

    def entries(self, states: tuple[str, ...] | None = None) -> list[Entry]:
        """Entries in queue order: running first (by start), then the waiting ones, then the ended."""
        rows = self._db.execute("SELECT * FROM entries ORDER BY position, id").fetchall()
        found = [Entry.from_row(r) for r in rows]
        if states is not None:
            found = [e for e in found if e.state in states]
        rank = {**dict.fromkeys(ACTIVE, 0), **dict.fromkeys(WAITING, 1), **dict.fromkeys(ENDED, 2)}
        return sorted(found, key=lambda e: (rank.get(e.state, 3), e.started_t or 0.0 if e.state in ACTIVE else 0.0,
                                            -(e.ended_t or 0.0) if e.state in ENDED else e.position, e.id))

    def get(self, entry_id: int) -> Entry:
        row = self._db.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise QueueError(f"no queue entry #{entry_id} (lora-studio queue list shows them)")
        return Entry.from_row(row)

    def setting(self, key: str, default: str = "") -> str:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return str(row["value"]) if row else default

    @property
    def paused(self) -> bool:
        return self.setting("paused") == "1"

    @property
    def stop_on_failure(self) -> bool:
        return self.setting("stop_on_failure") == "1"

    def pause_reason(self) -> str:
        return self.setting("pause_reason")

    # -- changes a user makes --------------------------------------------------------------

    def add(self, job: Job, label: str = "", source: str = "") -> Entry:
        kind = getattr(job, "kind", "train")
        if kind not in QUEUE_KINDS:
            raise QueueError(f"a {kind} job is not queued: it is quick and runs at once "
                             f"(the queue takes {' and '.join(QUEUE_KINDS)} jobs)")
        if getattr(getattr(job, "distributed", None), "nnodes", 1) > 1:
            raise QueueError("a job over several machines is started on each machine by hand "
                             "(lora-studio train on every node), not from a queue")
        label = label or _label(job)
        text = dumps(job)
        job_from_dict(json.loads(text), source="the queued job")  # it reads back as it will run
        with self.transaction() as db:
            position = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM entries").fetchone()[0]
            cursor = db.execute(
                "INSERT INTO entries (position, label, kind, job, state, source, added_t) "
                "VALUES (?, ?, ?, ?, 'queued', ?, ?)", (position, label, kind, text, source, time.time()))
            entry_id = int(cursor.lastrowid or 0)
        return self.get(entry_id)

    def remove(self, entry_id: int) -> Entry:
        entry = self.get(entry_id)
        if entry.state in ACTIVE:
            raise QueueError(f"#{entry_id} is {entry.state}: cancel it first (lora-studio queue cancel {entry_id})")
        with self.transaction() as db:
            db.execute("DELETE FROM entries WHERE id = ? AND state NOT IN ('starting', 'running')", (entry_id,))
        return entry

    def move(self, entry_id: int, to: int) -> list[Entry]:
        """Put a waiting entry at place ``to`` (1 = next to start) among the waiting ones."""
        entry = self.get(entry_id)
        if entry.state not in WAITING:
            raise QueueError(f"#{entry_id} is {entry.state}; only waiting entries can move")
        with self.transaction() as db:
            waiting = [r["id"] for r in db.execute(
                "SELECT id FROM entries WHERE state = 'queued' ORDER BY position, id").fetchall()]
            waiting.remove(entry_id)
            waiting.insert(max(0, min(len(waiting), to - 1)), entry_id)
            start = db.execute("SELECT COALESCE(MIN(position), 1) FROM entries WHERE state = 'queued'").fetchone()[0]
            for offset, other in enumerate(waiting):
                db.execute("UPDATE entries SET position = ? WHERE id = ?", (start + offset, other))
            db.execute("UPDATE entries SET position = position + ? WHERE state != 'queued' AND position >= ?",
                       (len(waiting), start))
        return self.entries(WAITING)

    def cancel_waiting(self, entry_id: int) -> bool:
        """Cancel an entry that has not started; False when it already had (its worker is then
        told to cancel, see runner.cancel)."""
        with self.transaction() as db:
            changed = db.execute("UPDATE entries SET state = 'cancelled', ended_t = ?, message = ? "
                                 "WHERE id = ? AND state = 'queued'",
                                 (time.time(), "cancelled before it started", entry_id)).rowcount
        return bool(changed)

    def fail_waiting(self, entry_id: int, message: str) -> bool:
        """A waiting entry that can never start here (it names a GPU this machine lacks)."""
        with self.transaction() as db:
            changed = db.execute("UPDATE entries SET state = 'failed', ended_t = ?, message = ? "
                                 "WHERE id = ? AND state = 'queued'", (time.time(), message, entry_id)).rowcount
        return bool(changed)

    def retry(self, entry_id: int) -> Entry:
        """Queue an ended entry again, last in line (its earlier run folder stays in the runs)."""
        entry = self.get(entry_id)
        if entry.state == PRUNED:
            raise QueueError(why_not_retried(entry))
        if entry.state not in RETRIABLE:
            raise QueueError(f"#{entry_id} is {entry.state}; only a failed, stopped or cancelled entry is retried")
        with self.transaction() as db:
            position = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM entries").fetchone()[0]
            db.execute("UPDATE entries SET state = 'queued', position = ?, devices = '', run_dir = '', pid = NULL, "
                       "started_t = NULL, ended_t = NULL, step = 0, total_steps = 0, eta_s = NULL, message = ?, "
                       "ending = '' WHERE id = ?",
                       (position, f"retried (was {entry.state}: {entry.run_dir or 'not started'})", entry_id))
        return self.get(entry_id)

    def set_paused(self, paused: bool, reason: str = "") -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES ('paused', ?)", ("1" if paused else "0",))
            db.execute("INSERT OR REPLACE INTO settings VALUES ('pause_reason', ?)", (reason if paused else "",))

    def set_stop_on_failure(self, stop: bool) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES ('stop_on_failure', ?)", ("1" if stop else "0",))

    # -- changes the runner makes ----------------------------------------------------------

    def mark_starting(self, entry_id: int, devices: str, run_dir: Path) -> bool:
        """Claim a waiting entry for a run folder; False when someone else changed it first."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE entries SET state = 'starting', devices = ?, run_dir = ?, pid = NULL, started_t = ?, "
                "attempts = attempts + 1, message = '', ending = '' WHERE id = ? AND state = 'queued'",
                (devices, str(run_dir), time.time(), entry_id)).rowcount
        return bool(changed)

    def mark_running(self, entry_id: int, pid: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE entries SET state = 'running', pid = ? WHERE id = ? AND state IN ('starting', 'running')",
                       (pid, entry_id))

    def mark_progress(self, entry_id: int, step: int, total_steps: int, eta_s: float | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE entries SET step = ?, total_steps = ?, eta_s = ? WHERE id = ?",
                       (step, total_steps, eta_s, entry_id))

    def ask_to_end(self, entry_id: int, state: str, reason: str) -> bool:
        """Say why a started entry's worker is about to be cancelled (``state`` PRUNED, ``reason``
        "pruned by the sweep at step 4: ..."), before it is told: its cancelled end is then
        recorded as ``state`` with ``reason``. False when it is not running (any more)."""
        if state not in ENDED:
            raise ValueError(f"not an end state: {state}")
        with self.transaction() as db:
            changed = db.execute("UPDATE entries SET ending = ?, message = ? WHERE id = ? "
                                 "AND state IN ('starting', 'running')", (state, reason, entry_id)).rowcount
        return bool(changed)

    def mark_ended(self, entry_id: int, state: str, message: str = "") -> Entry | None:
        """Record how a started entry ended; the entry as ended, or None when it had already.
        A cancel asked for a reason (``ask_to_end``) ends as that asked, in its words."""
        if state not in ENDED:
            raise ValueError(f"not an end state: {state}")
        with self.transaction() as db:
            row = db.execute("SELECT ending, message FROM entries WHERE id = ? AND state IN ('starting', 'running')",
                             (entry_id,)).fetchone()
            if row is None:
                return None
            if state == "cancelled" and row["ending"]:
                state, message = row["ending"], row["message"]
            db.execute("UPDATE entries SET state = ?, message = ?, ended_t = ?, pid = NULL, eta_s = NULL "
                       "WHERE id = ?", (state, message, time.time(), entry_id))
        return self.get(entry_id)


def why_not_retried(entry: Entry) -> str:
    """Why a pruned trial has no Retry (the CLI's refusal; the Queue page's Retry tooltip is NOT_RETRIED)."""
    return f"#{entry.id} was {entry.message or 'pruned by its sweep'}. {NOT_RETRIED}"


def _label(job: Job) -> str:
    """What the user will recognise it by: the adapter's name, else model + dataset."""
    name = getattr(getattr(job, "output", None), "name", "") or ""
    if name:
        return name
    model = Path(str(getattr(getattr(job, "model", None), "path", "") or "model")).name
    model = model.removesuffix(".gguf")  # a folder's name whole: Qwen2.5-0.5B is no file with a suffix
    dataset = Path(str(getattr(getattr(job, "dataset", None), "path", "") or "")).stem
    what = f"{model} on {dataset}" if dataset else model
    return f"eval: {what}" if getattr(job, "kind", "train") == "eval" else what
