"""The adapter library on disk: ``<home>/library/<name>/v<N>/`` folders, the truth.

Every change is one atomic step on the folders (a rename of a fully written,
fsynced folder, or an atomic rewrite of one card.json), made under an exclusive
lock file so that the GUI, the CLI and finishing workers never pick the same
version number; the SQLite index is updated after, and :meth:`Library.sync`
repairs it from the folders whenever a writer died between the two. Reading takes
no lock: a read syncs only when the folders changed, and only if no writer is at
work (library.folders); SQLite's own locking keeps its reads whole. A killed
writer therefore leaves the old state or the new one, plus at worst a hidden
staging folder that the next writer removes.

A full disk, a read-only mount or a locked index is a :class:`LibraryError` that
says so (never an ``OSError`` or ``sqlite3`` traceback), raised before the commit
with nothing left behind, or swallowed after it (the index catches up at the next
read). A library whose index can't be written still lists, from its folders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from studio.core import atomic, paths
from studio.core.cards import CARD_NAME, Card, card_readme, read_card, write_card
from studio.core.library import failures
from studio.core.library.failures import LibraryError
from studio.core.library.files import WEIGHT_FILES, adapter_files
from studio.core.library.folders import (
    NAME_RE,
    VERSION_RE,
    on_disk,
    signature,
    versions,
    writers_lock,
)
from studio.core.library.index import Entry, LibraryIndex
from studio.core.library.repair import finish_renames

log = logging.getLogger(__name__)

TRASH_NAME = ".trash"
LOCK_NAME = ".lock"
INDEX_NAME = "index.sqlite"
RESERVED_NAMES = {"reports"}  # library/reports/ holds saved comparisons


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _said(method: _Method) -> _Method:
    """The disk's and the index's failures of a library method as a LibraryError sentence."""
    @functools.wraps(method)
    def wrapper(self: Library, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(failures.describe(exc, self.root)) from exc

    return cast(_Method, wrapper)


def clean_name(name: str) -> str:
    """A folder-safe adapter name: letters, digits, '.', '_' and '-'."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")[:80]
    if cleaned.lower() in RESERVED_NAMES:
        raise LibraryError(f"{name!r} is reserved in the library folder: choose another adapter name")
    if not cleaned or not NAME_RE.match(cleaned):
        raise LibraryError(f"{name!r} is not a usable adapter name: use letters, digits, '.', '_' or '-'")
    return cleaned


def parse_ref(ref: str) -> tuple[str, int | None]:
    """"name/v3" -> ("name", 3); "name" -> ("name", None) meaning its newest version."""
    name, _, version = ref.strip().strip("/").partition("/")
    if not NAME_RE.match(name):
        raise LibraryError(f"{ref!r} is not a library reference (expected NAME or NAME/vN)")
    if not version:
        return name, None
    match = VERSION_RE.match(version)
    if not match:
        raise LibraryError(f"{ref!r}: the version must look like v1, v2, …")
    return name, int(match.group(1))


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def library_root() -> Path:
    """Where the library lives, even where that folder can't be made (said when it is used)."""
    try:
        return paths.library_dir()
    except OSError:  # a read-only home, a file in the folder's place
        return paths.home() / "library"


class Library:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else library_root()
        self.trash = self.root / TRASH_NAME
        self.unwritable: str | None = None  # why this process lists from the folders instead of the index
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=paths.PRIVATE_DIR)
            self.index = LibraryIndex(self.root / INDEX_NAME)
        except (OSError, sqlite3.Error) as exc:  # read-only, full or not ours: it still lists
            self.index = LibraryIndex.in_memory()
            self._list_from_folders(exc)

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- locking ---------------------------------------------------------------------------------

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive across processes; the kernel drops it if the holder dies."""
        return atomic.locked(self.root / LOCK_NAME)

    def _list_from_folders(self, exc: BaseException) -> None:
        """From now on this process's index is built from the folders, in memory."""
        self.unwritable = failures.describe(exc, self.root)
        log.info("library index unusable (%s): listing from the folders", self.unwritable)
        if self.index.path != Path(":memory:"):
            self.index.close()
            self.index = LibraryIndex.in_memory()

    # -- reading ---------------------------------------------------------------------------------

    @_said
    def resolve(self, ref: str, trashed: bool = False) -> ResolvedEntry:
        """The entry ``ref`` names (NAME means its newest version)."""
        name, version = parse_ref(ref)
        base = (self.trash if trashed else self.root) / name
        if version is None:
            versions = self._versions(base)
            if not versions:
                raise LibraryError(f"no adapter named {name!r} in the library" + (" trash" if trashed else ""))
            version = versions[-1]
        folder = base / f"v{version}"
        if not folder.is_dir():
            where = "the trash" if trashed else "the library"
            raise LibraryError(f"{name}/v{version} is not in {where}")
        return ResolvedEntry(self.entry_for(folder, trashed), folder)

    def card(self, ref: str) -> Card | None:
        return read_card(self.resolve(ref).path_obj)

    @_said
    def entries(self, include_trashed: bool = False) -> list[Entry]:
        self.sync(wait=False)
        return self.index.all(include_trashed)

    @_said
    def search(self, **filters: Any) -> list[Entry]:
        self.sync(wait=False)
        return self.index.search(**filters)

    def history(self, name: str) -> list[Entry]:
        return [e for e in self.entries() if e.name == name]

    @_said
    def lineage(self, ref: str) -> tuple[list[tuple[str, list[str]]], list[Entry]]:
        """(ancestors as (ref, its parents), nearest first; children) of a version."""
        self.sync(wait=False)
        start = self.resolve(ref).entry
        ancestors, queue, seen = [], list(start.parents), {start.ref}
        while queue:
            parent = queue.pop(0)
            if parent in seen:
                continue
            seen.add(parent)
            entry = self.index.get(parent)
            parents = entry.parents if entry else []
            ancestors.append((parent, parents))
            queue.extend(parents)
        return ancestors, self.index.children(start.ref)

    def entry_for(self, folder: Path, trashed: bool = False) -> Entry:
        """An index entry from a version folder and its card.json (the path wins over the card)."""
        name, version = folder.parent.name, int(folder.name[1:])
        summary = dataclasses.asdict((read_card(folder) or Card()).summary())
        try:
            mtime = (folder / CARD_NAME).stat().st_mtime
        except OSError:
            mtime = 0.0
        return Entry(**{**summary, "name": name, "version": version}, ref=f"{name}/v{version}", path=str(folder),
                     trashed=trashed, size_bytes=folder_size(folder), card_mtime=mtime)

    # -- keeping the index true ------------------------------------------------------------------

    def scan(self) -> list[Entry]:
        """Every version folder, live and trashed, read from disk."""
        return [self.entry_for(found.folder, found.trashed) for found in on_disk(self.root, self.trash).values()]

    @_said
    def sync(self, wait: bool = True) -> None:
        """Bring the index in line with the folders.

        Under the lock, so a writer's move can't happen between reading a folder and
        indexing it (never call it while holding the lock: flock is not re-entrant).
        ``wait=False`` is a read's sync: nothing when the folders did not change since the
        last sync, and nothing where a writer holds the lock (it indexes its own change;
        the next read catches up), so a read never waits for a writer. Where the lock or
        the index can't be written (a read-only or full disk), the index is rebuilt in
        memory from the folders instead."""
        if not wait and self._synced() == signature(on_disk(self.root, self.trash)):
            return
        if self.unwritable is None:
            try:
                with writers_lock(self.root / LOCK_NAME, wait) as held:
                    if held:
                        self._sync()
                return
            except (OSError, sqlite3.Error) as exc:
                self._list_from_folders(exc)
        found = on_disk(self.root, self.trash)
        self.index.replace_all([self.entry_for(f.folder, f.trashed) for f in found.values()], signature(found))

    def _synced(self) -> str | None:
        """The folders' signature the index was last synced at (None: unreadable, so sync)."""
        try:
            return self.index.synced()
        except sqlite3.Error:
            return None

    def _sync(self) -> None:
        found = on_disk(self.root, self.trash)
        indexed = {e.ref: e for e in self.index.all(include_trashed=True)}
        stale = [ref for ref in indexed if ref not in found]
        if stale:
            self.index.remove(stale)
        for ref, (folder, trashed, mtime, _stamp) in found.items():
            known = indexed.get(ref)
            if known is None or known.trashed != trashed or known.path != str(folder) or known.card_mtime != mtime:
                self.index.upsert(self.entry_for(folder, trashed))
        self.index.mark_synced(signature(found))

    @_said
    def check(self) -> list[str]:
        """Problems between the index and the folders, and in the folders (empty = consistent).

        Read without the lock; only a library found wanting is read again under it, so that
        a writer between its folder and its index row is not reported."""
        problems = self._check()
        if problems and not self.unwritable:
            with self.locked():
                problems = self._check()
        return problems

    def _check(self) -> list[str]:
        problems = [f"the index is not used: {self.unwritable}"] if self.unwritable else []
        on_disk = {e.ref: e for e in self.scan()}
        indexed = on_disk if self.unwritable else {e.ref: e for e in self.index.all(include_trashed=True)}
        for ref in sorted(set(on_disk) - set(indexed)):
            problems.append(f"{ref}: in the folders but not in the index (`lora-studio library reindex` adds it)")
        for ref in sorted(set(indexed) - set(on_disk)):
            problems.append(f"{ref}: in the index but its folder is gone (`lora-studio library reindex` drops it)")
        for ref, entry in sorted(on_disk.items()):
            folder = Path(entry.path)
            if not (folder / "adapter_config.json").is_file():
                problems.append(f"{ref}: adapter_config.json is missing")
            if not any((folder / name).is_file() for name in WEIGHT_FILES):
                problems.append(f"{ref}: no adapter weights")
            card = read_card(folder)
            if card is None:
                problems.append(f"{ref}: card.json is missing or not valid JSON")
            elif (card.name, card.version) != (entry.name, entry.version):
                problems.append(f"{ref}: card.json says {card.name}/v{card.version}")
            known = indexed.get(ref)
            if known is not None and (known.trashed != entry.trashed or known.path != entry.path):
                problems.append(f"{ref}: the index has an old location for it (a writer was killed;"
                                " the next listing or `lora-studio library reindex` repairs it)")
        return problems

    @_said
    def rebuild(self) -> int:
        """Recreate the whole index from the folders; returns the number of versions."""
        with self.locked():
            self._clean_leftovers()
            if finish_renames(self.scan()):
                log.info("reindex finished a rename that was cut short")
            entries = self.scan()
            if self.unwritable:  # reindex is how a user repairs the index: open the file again
                self._reopen_index()
            try:
                self.index.replace_all(entries)
            except sqlite3.DatabaseError as exc:
                if not _damaged(exc):
                    raise
                self._reopen_index(replace=True)
                self.index.replace_all(entries)
        return len(entries)

    def _reopen_index(self, replace: bool = False) -> None:
        """The index file opened again; a damaged one (not a database any more) replaced (held lock)."""
        self.index.close()
        if replace:
            for suffix in ("", "-wal", "-shm"):
                (self.root / f"{INDEX_NAME}{suffix}").unlink(missing_ok=True)
        try:
            self.index = LibraryIndex(self.root / INDEX_NAME)
        except sqlite3.DatabaseError as exc:
            if replace or not _damaged(exc):
                self.index = LibraryIndex.in_memory()
                raise
            self._reopen_index(replace=True)
        self.unwritable = None

    def _clean_leftovers(self) -> None:
        """Staging folders of writers killed mid-way, and unpacked imports (held lock)."""
        for base in (self.root, self.trash):
            if base.is_dir():
                atomic.clean_leftovers(base)
                for child in base.iterdir():
                    if child.is_dir() and NAME_RE.match(child.name):
                        atomic.clean_leftovers(child)
        for leftover in self.root.glob(".import-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    # -- writing ---------------------------------------------------------------------------------

    @_said
    def add(self, source: Path, card: Card, name: str | None = None,
            parents: list[str] | None = None, allow_pickle: bool = False) -> Entry:
        """Copy an adapter folder in as the next version of ``name`` (default: the card's).

        A card with a run id that is filed already gives that version back: a run resumed
        after it was filed (killed before it said done) lands once."""
        source = Path(source)
        name = clean_name(name or card.name or source.name)
        files = adapter_files(source, allow_pickle)
        with self.locked():
            if card.run_id and (filed := self._filed_run(card.run_id, name)) is not None:
                return filed
            name_dir = self.root / name
            new_name = not name_dir.exists()
            name_dir.mkdir(parents=True, exist_ok=True)
            atomic.clean_leftovers(name_dir)
            version = max([0, *self._versions(name_dir), *self._versions(self.trash / name)]) + 1
            target = name_dir / f"v{version}"
            stage = None
            try:
                stage = Path(tempfile.mkdtemp(prefix=f".v{version}.", suffix=".staging", dir=name_dir))
                for file in files:
                    shutil.copyfile(file, stage / file.name)
                full = dataclasses.replace(card, name=name, version=version,
                                           parents=list(parents if parents is not None else card.parents),
                                           created=card.created or time.strftime("%Y-%m-%dT%H:%M:%S%z"))
                write_card(stage, full)
                if full.peft_config:
                    (stage / "README.md").write_text(card_readme(full), encoding="utf-8")
                atomic.fsync_tree(stage)
                os.rename(stage, target)  # the lock makes ``target`` free; the rename is the commit
            except BaseException:
                if stage is not None:
                    shutil.rmtree(stage, ignore_errors=True)
                if new_name:
                    with contextlib.suppress(OSError):
                        name_dir.rmdir()  # a name that never got a version leaves no folder
                raise
            atomic.fsync_dir(name_dir)
            entry = self.entry_for(target)
            self._index_committed(entry)
        return entry

    def add_run(self, run_dir: Path, name: str | None = None) -> Entry:
        """Add a finished run's adapter (``<run>/adapter``) with its card (once: see :meth:`add`)."""
        adapter = Path(run_dir) / "adapter"
        card = read_card(adapter)
        if card is None:
            raise LibraryError(f"{adapter} has no card.json: not an adapter LoRA Studio saved")
        if not card.run_id:  # saved before cards named their run: the folder is the run
            card = dataclasses.replace(card, run_id=Path(run_dir).name)
        return self.add(adapter, card, name=name)

    @_said
    def filed_run(self, run_id: str, name: str = "") -> Entry | None:
        """The live version a run was filed as, if any (read without the lock: :meth:`add`
        asks again under it before it files anything)."""
        return self._filed_run(run_id, clean_name(name) if name else "")

    def _filed_run(self, run_id: str, name: str) -> Entry | None:
        """Looked up in the folders of ``name`` (the truth) and, for a renamed adapter, in the index."""
        candidates = [self.root / name / f"v{v}" for v in self._versions(self.root / name)] if name else []
        with contextlib.suppress(sqlite3.Error):
            candidates += [Path(e.path) for e in self.index.with_run_id(run_id) if not e.trashed]
        for folder in candidates:
            card = read_card(folder)
            if card is not None and card.run_id == run_id and folder.parent.parent == self.root:
                return self.entry_for(folder)
        trashed = [self.trash / name / f"v{v}" for v in self._versions(self.trash / name)] if name else []
        for folder in trashed:
            card = read_card(folder)
            if card is not None and card.run_id == run_id:
                ref = f"{name}/{folder.name}"
                raise LibraryError(f"this run was filed as {ref}, which is in the trash: "
                                   f"`lora-studio library restore {ref}` brings it back")
        return None

    def _index_committed(self, *entries: Entry) -> None:
        """Index what the folders hold already. A failure here (a full disk, a busy index) is
        not the caller's: the change is made, and the next read's sync indexes it."""
        try:
            for entry in entries:
                self.index.upsert(entry)
        except sqlite3.Error as exc:
            log.info("library index not updated (%s); the next listing repairs it",
                        failures.describe(exc, self.root))

    @_said
    def update_card(self, ref: str, edit: Callable[[Card], dict[str, Any]] | None = None,
                    **changes: Any) -> Entry:
        """Rewrite fields of one version's card atomically. ``edit`` computes changes from the
        card as it is under the lock: a read-modify-write (a tag added) loses no other writer's."""
        with self.locked():
            resolved = self.resolve(ref)
            card = read_card(resolved.path_obj) or Card(name=resolved.entry.name, version=resolved.entry.version)
            if edit is not None:
                changes = {**changes, **edit(card)}
            write_card(resolved.path_obj, dataclasses.replace(card, **changes))
            entry = self.entry_for(resolved.path_obj)
            self._index_committed(entry)
        return entry

    def tag(self, ref: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> Entry:
        def edit(card: Card) -> dict[str, Any]:
            tags = [t for t in card.tags if t not in remove]
            return {"tags": tags + [t for t in dict.fromkeys(add) if t and t not in tags]}

        return self.update_card(ref, edit)

    def set_notes(self, ref: str, notes: str) -> Entry:
        return self.update_card(ref, notes=notes)

    @_said
    def rename(self, name: str, new_name: str) -> list[Entry]:
        """Rename an adapter and all its versions; lineage references follow."""
        new_name = clean_name(new_name)
        name, _ = parse_ref(name)
        with self.locked():
            source, target = self.root / name, self.root / new_name
            if not source.is_dir():
                raise LibraryError(f"no adapter named {name!r} in the library")
            if target.exists() or (self.trash / new_name).exists():
                raise LibraryError(f"{new_name!r} is taken: choose another name")
            os.rename(source, target)  # the commit: the folder name is the truth
            atomic.fsync_dir(self.root)
            for folder in [target / f"v{v}" for v in self._versions(target)]:
                card = read_card(folder)
                if card is not None:
                    write_card(folder, dataclasses.replace(card, name=new_name))
            prefix = f"{name}/"
            for entry in self.scan():  # children elsewhere point at the new name
                child = read_card(Path(entry.path)) if any(p.startswith(prefix) for p in entry.parents) else None
                if child is not None:
                    write_card(Path(entry.path), dataclasses.replace(child, parents=[
                        new_name + p[len(name):] if p.startswith(prefix) else p for p in child.parents]))
        self.sync()
        return self.history(new_name)

    @_said
    def delete(self, ref: str) -> Entry:
        """Move a version to the trash (restorable)."""
        with self.locked():
            resolved = self.resolve(ref)
            folder = resolved.path_obj
            target = self.trash / folder.parent.name / folder.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, target)
            atomic.fsync_dir(target.parent)
            with contextlib.suppress(OSError):
                folder.parent.rmdir()  # the last version of a name: no empty folder left
            entry = self.entry_for(target, trashed=True)
            self._index_committed(entry)
        return entry

    @_said
    def restore(self, ref: str) -> Entry:
        with self.locked():
            resolved = self.resolve(ref, trashed=True)
            folder = resolved.path_obj
            target = self.root / folder.parent.name / folder.name
            if target.exists():
                raise LibraryError(f"{resolved.entry.ref} exists in the library already")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, target)
            atomic.fsync_dir(target.parent)
            with contextlib.suppress(OSError):
                folder.parent.rmdir()
            entry = self.entry_for(target)
            self._index_committed(entry)
        return entry

    def export(self, ref: str, destination: Path, as_zip: bool | None = None) -> Path:
        """A PEFT-loadable copy of a version: a folder, or a .zip (by suffix unless told)."""
        folder = self.resolve(ref).path_obj
        destination = paths.user_path(destination)
        as_zip = destination.suffix.lower() == ".zip" if as_zip is None else as_zip
        if not as_zip and destination.exists() and not destination.is_dir():
            raise LibraryError(f"{destination} is a file: give a new folder, or a name ending in .zip")
        try:
            return self._export(folder, destination, as_zip)
        except OSError as exc:
            raise LibraryError(f"could not write {destination}: {exc.strerror or exc}") from exc

    def _export(self, folder: Path, destination: Path, as_zip: bool) -> Path:
        if as_zip:
            import zipfile

            destination.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
            os.close(fd)
            try:
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                    for file in sorted(p for p in folder.iterdir() if p.is_file()):
                        archive.write(file, file.name)
                os.replace(tmp, destination)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return destination
        if destination.exists() and any(destination.iterdir()):
            raise LibraryError(f"{destination} exists and is not empty: choose a new folder")
        with atomic.staged_dir(destination) as stage:
            for file in (p for p in folder.iterdir() if p.is_file()):
                shutil.copyfile(file, stage / file.name)
        return destination

    # -- helpers ---------------------------------------------------------------------------------

    _versions = staticmethod(versions)


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """The index file is not a (sound) database any more: only replacing it helps."""
    return "malformed" in str(exc) or "not a database" in str(exc)


class ResolvedEntry:
    def __init__(self, entry: Entry, folder: Path):
        self.entry = entry
        self.path_obj = folder


def locate_adapter(setting: str, library: Library | None = None) -> tuple[Path, str | None]:
    """(folder, library ref or None) for a job's adapter setting: a folder, or NAME[/vN]."""
    path = paths.user_path(setting)
    if (path / "adapter_config.json").is_file():
        return path, None
    if library is None:
        with Library() as own:
            return locate_adapter(setting, own)
    try:
        resolved = library.resolve(setting)
    except LibraryError as exc:
        raise LibraryError(f"{setting!r} is neither an adapter folder nor in the library: {exc}") from None
    return resolved.path_obj, resolved.entry.ref


def read_adapter_config(folder: Path) -> dict[str, Any]:
    """A PEFT folder's adapter_config.json ({} when missing or unreadable)."""
    try:
        config = json.loads((Path(folder) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def base_model_of(folder: Path) -> str | None:
    """The ``model.path`` that loads an adapter's base: from its card, else the path its
    adapter_config.json names, when either exists on this machine."""
    card = read_card(folder)
    from_card = card.base_model.setting() if card is not None else None
    if from_card:
        return from_card
    named = str(read_adapter_config(folder).get("base_model_name_or_path") or "")
    return named if named and paths.user_path(named).exists() else None
