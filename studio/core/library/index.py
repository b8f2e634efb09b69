"""The library's SQLite index: fast listing, search and lineage over the version folders.

Only an index: every row comes from a ``card.json`` and the folder it sits in, and
:meth:`LibraryIndex.replace_all` rebuilds it from scratch. WAL mode and a busy
timeout let the GUI, the CLI and a finishing worker read and write at once; each
change is one transaction, so a writer killed mid-way leaves the old rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

_COLUMNS = ("ref", "name", "version", "path", "trashed", "base_id", "base_name", "architecture", "method", "rank",
            "dataset", "train_loss", "eval_loss", "perplexity", "size_bytes", "created", "tags", "notes", "parents",
            "run_id", "card_mtime")


@dataclass
class Entry:
    """One adapter version as the index knows it (a summary of its card)."""

    ref: str  # "name/v3"
    name: str
    version: int
    path: str
    trashed: bool = False
    base_id: str = ""
    base_name: str = ""
    architecture: str = ""
    method: str = ""
    rank: int | None = None
    dataset: str = ""
    train_loss: float | None = None
    eval_loss: float | None = None
    perplexity: float | None = None
    size_bytes: int = 0
    created: str = ""
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    parents: list[str] = field(default_factory=list)
    run_id: str = ""
    card_mtime: float = 0.0

    def row(self) -> tuple[Any, ...]:
        values = {**self.__dict__, "tags": json.dumps(self.tags), "parents": json.dumps(self.parents),
                  "trashed": int(self.trashed)}
        return tuple(values[c] for c in _COLUMNS)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        values = dict(row)
        values["tags"] = json.loads(values["tags"] or "[]")
        values["parents"] = json.loads(values["parents"] or "[]")
        values["trashed"] = bool(values["trashed"])
        return cls(**values)


class LibraryIndex:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._create()

    def close(self) -> None:
        self._conn.close()

    def _create(self) -> None:
        # An index of this schema takes no write lock to open: readers (the GUI's lookups,
        # the CLI's listings) never wait for a writer, nor make one wait.
        if self._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._transaction():
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS versions (ref TEXT PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT "
                "NULL, path TEXT NOT NULL, trashed INTEGER NOT NULL DEFAULT 0, base_id TEXT, base_name TEXT, "
                "architecture TEXT, method TEXT, rank INTEGER, dataset TEXT, train_loss REAL, eval_loss REAL, "
                "perplexity REAL, size_bytes INTEGER, created TEXT, tags TEXT, notes TEXT, parents TEXT, run_id TEXT, "
                "card_mtime REAL)")
            self._conn.execute("CREATE INDEX IF NOT EXISTS versions_name ON versions(name, version)")
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _transaction(self):
        conn = self._conn

        class _Tx:
            def __enter__(self):
                conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlocks

            def __exit__(self, kind, _value, _tb):
                conn.execute("ROLLBACK" if kind else "COMMIT")
                return False

        return _Tx()

    # -- writing --------------------------------------------------------------------------------

    def upsert(self, entry: Entry) -> None:
        with self._transaction():
            self._upsert(entry)

    def _upsert(self, entry: Entry) -> None:
        marks = ", ".join("?" for _ in _COLUMNS)
        self._conn.execute(f"INSERT OR REPLACE INTO versions ({', '.join(_COLUMNS)}) VALUES ({marks})", entry.row())

    def remove(self, refs: Iterable[str]) -> None:
        with self._transaction():
            self._conn.executemany("DELETE FROM versions WHERE ref = ?", [(r,) for r in refs])

    def replace_all(self, entries: Iterable[Entry]) -> None:
        """Make the index exactly ``entries`` in one transaction (a rebuild)."""
        with self._transaction():
            self._conn.execute("DELETE FROM versions")
            for entry in entries:
                self._upsert(entry)

    # -- reading --------------------------------------------------------------------------------

    def all(self, include_trashed: bool = False) -> list[Entry]:
        where = "" if include_trashed else "WHERE trashed = 0"
        rows = self._conn.execute(f"SELECT * FROM versions {where} ORDER BY name, version")
        return [Entry.from_row(r) for r in rows]

    def get(self, ref: str) -> Entry | None:
        row = self._conn.execute("SELECT * FROM versions WHERE ref = ?", (ref,)).fetchone()
        return Entry.from_row(row) if row else None

    def search(self, text: str = "", base: str = "", method: str = "", tag: str = "",
               trashed: bool = False) -> list[Entry]:
        """Versions matching every filter given (text: name, dataset, notes, tags, base)."""
        clauses, args = ["trashed = ?"], [int(trashed)]  # type: list[str], list[int | str]
        if text:
            clauses.append("(name LIKE ? OR dataset LIKE ? OR notes LIKE ? OR tags LIKE ? OR base_name LIKE ?)")
            args += [f"%{text}%"] * 5
        if base:
            clauses.append("(base_id LIKE ? OR base_name LIKE ?)")
            args += [f"%{base}%"] * 2
        if method:
            clauses.append("method LIKE ?")
            args.append(f"%{method}%")
        if tag:
            clauses.append("tags LIKE ?")
            args.append(f'%"{tag}"%')
        rows = self._conn.execute(f"SELECT * FROM versions WHERE {' AND '.join(clauses)} ORDER BY name, version",
                                  args)
        return [Entry.from_row(r) for r in rows]

    def children(self, ref: str) -> list[Entry]:
        rows = self._conn.execute("SELECT * FROM versions WHERE parents LIKE ? ORDER BY name, version",
                                  (f'%"{ref}"%',))
        return [Entry.from_row(r) for r in rows]
