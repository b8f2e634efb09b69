"""The library's SQLite index: fast listing, search and lineage over the version folders.

Only an index: every row comes from a ``card.json`` and the folder it sits in, and
:meth:`LibraryIndex.replace_all` rebuilds it from scratch. WAL mode and a busy
timeout let the GUI, the CLI and a finishing worker read and write at once; each
change is one transaction, so a writer killed mid-way leaves the old rows.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.cards import CardSummary

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000
MEMORY = ":memory:"


@dataclass(kw_only=True)
class Entry(CardSummary):
    """One adapter version as the index knows it: its card's summary and where its folder is."""

    ref: str  # "name/v3"
    path: str
    trashed: bool = False
    size_bytes: int = 0
    card_mtime: float = 0.0

    def row(self) -> tuple[Any, ...]:
        return tuple(_to_sql(getattr(self, c), kind) for c, kind in _KINDS.items())

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        return cls(**{c: _from_sql(row[c], kind) for c, kind in _KINDS.items()})


def _kind(hint: Any) -> type:
    """The Python type a field holds (``int | None`` -> int, ``list[str]`` -> list)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


# Each field of Entry is one column: the schema follows the card's summary.
_KINDS: dict[str, type] = {f.name: _kind(typing.get_type_hints(Entry)[f.name]) for f in dataclasses.fields(Entry)}
COLUMNS = tuple(_KINDS)
_SQL_TYPES = {str: "TEXT", int: "INTEGER", bool: "INTEGER", float: "REAL", list: "TEXT"}  # lists as JSON
_NOT_NULL = {"name", "version", "path", "trashed"}


def _column_sql(name: str) -> str:
    if name == "ref":
        return "ref TEXT PRIMARY KEY"
    return f"{name} {_SQL_TYPES[_KINDS[name]]}" + (" NOT NULL" if name in _NOT_NULL else "")


def _to_sql(value: Any, kind: type) -> Any:
    if kind is list:
        return json.dumps(value)
    return int(value) if kind is bool else value


def _from_sql(value: Any, kind: type) -> Any:
    if kind is list:
        return json.loads(value or "[]")
    return bool(value) if kind is bool else value


class LibraryIndex:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        if path != MEMORY:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._create()
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def in_memory(cls) -> LibraryIndex:
        """An index of this process only: what a library it can't write lists from."""
        return cls(MEMORY)

    def close(self) -> None:
        self._conn.close()

    def _create(self) -> None:
        # An index of this schema takes no write lock to open: readers (the GUI's lookups,
        # the CLI's listings) never wait for a writer, nor make one wait.
        if (self._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
                and self._columns() == set(COLUMNS) and self._has_meta()):
            return
        with self._transaction():
            # What the index knows of itself: the folders' signature at the last sync (library.folders).
            self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            if self._columns() not in (set(), set(COLUMNS)):  # the card summary changed: the next sync refills it
                self._conn.execute("DROP TABLE versions")
                self._conn.execute("DELETE FROM meta")
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS versions ({', '.join(map(_column_sql, COLUMNS))})")
            self._conn.execute("CREATE INDEX IF NOT EXISTS versions_name ON versions(name, version)")
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _columns(self) -> set[str]:
        return {row["name"] for row in self._conn.execute("PRAGMA table_info(versions)")}

    def _has_meta(self) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() \
            is not None

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
        marks = ", ".join("?" for _ in COLUMNS)
        self._conn.execute(f"INSERT OR REPLACE INTO versions ({', '.join(COLUMNS)}) VALUES ({marks})", entry.row())

    def remove(self, refs: Iterable[str]) -> None:
        with self._transaction():
            self._conn.executemany("DELETE FROM versions WHERE ref = ?", [(r,) for r in refs])

    def replace_all(self, entries: Iterable[Entry], synced: str = "") -> None:
        """Make the index exactly ``entries`` in one transaction (a rebuild); ``synced``: the
        folders' signature they were read at ("" for unknown: the next read syncs)."""
        with self._transaction():
            self._conn.execute("DELETE FROM versions")
            for entry in entries:
                self._upsert(entry)
            self._set_synced(synced)

    def mark_synced(self, signature: str) -> None:
        """The index now holds what the folders of this signature hold."""
        with self._transaction():
            self._set_synced(signature)

    def _set_synced(self, signature: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('synced', ?)", (signature,))

    # -- reading --------------------------------------------------------------------------------

    def synced(self) -> str:
        """The folders' signature at the last sync ("" if never)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'synced'").fetchone()
        return str(row["value"]) if row else ""

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

    def with_run_id(self, run_id: str) -> list[Entry]:
        rows = self._conn.execute("SELECT * FROM versions WHERE run_id = ? ORDER BY name, version", (run_id,))
        return [Entry.from_row(r) for r in rows]

    def children(self, ref: str) -> list[Entry]:
        rows = self._conn.execute("SELECT * FROM versions WHERE parents LIKE ? ORDER BY name, version",
                                  (f'%"{ref}"%',))
        return [Entry.from_row(r) for r in rows]
