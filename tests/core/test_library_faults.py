"""Issue 22's library findings, on real folders and a real SQLite index: a full disk and a
read-only library leave folders and index consistent and say why in a sentence (4), a run is
filed once however often it is added (5), tags added by racing processes all stay (7), a
zip can't unpack more than an adapter is (8), and strings from outside are shown without
their terminal escapes (9)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_disks import fill, read_only, small_disk
from library_support import make_adapter

from studio.core.cards import Card, write_card
from studio.core.library import Library, LibraryError, import_adapter
from studio.core.library import importing as importing_module
from studio.core.library.index import LibraryIndex
from studio.core.printable import printable

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def library(studio_home: Path) -> Iterator[Library]:
    lib = Library()
    yield lib
    lib.close()


def hidden_leftovers(root: Path) -> list[str]:
    """Staging folders, temp files and unpacked imports a failed write left behind."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*")
                  if p.name not in (".lock", ".trash") and p.name != ".filler")


def run_folder(tmp_path: Path, run_id: str, name: str = "pirate") -> Path:
    """A finished run as the worker leaves it: ``<run>/adapter`` with its card."""
    run_dir = tmp_path / "runs" / run_id
    adapter = make_adapter(run_dir / "adapter")
    write_card(adapter, Card(name=name, run_id=run_id, tags=["from-run"]))
    return run_dir


# -- 4: a full disk ---------------------------------------------------------------------------


def test_a_full_disk_refuses_an_add_in_a_sentence_and_leaves_nothing_half(library, tmp_path):
    small = make_adapter(tmp_path / "small")
    library.add(small, Card(name="k"))
    with small_disk(library.root, "1m"):
        disk = Library()
        try:
            big = make_adapter(tmp_path / "big", r=2048)  # ~3 MiB of weights: more than the disk has
            with pytest.raises(LibraryError, match="the disk holding the library .* is full"):
                disk.add(big, Card(name="k"))
            with pytest.raises(LibraryError, match="is full"):
                disk.add(big, Card(name="new-name"))
            assert [e.ref for e in disk.entries()] == ["k/v1"] and disk.check() == []
            assert hidden_leftovers(disk.root) == [] and not (disk.root / "new-name").exists()
            fill(disk.root)
            with pytest.raises(LibraryError, match="is full"):
                disk.tag("k/v1", add=["kept"])
            with pytest.raises(LibraryError, match="is full"):
                import_adapter(disk, small)
            assert [(e.ref, e.tags) for e in disk.entries()] == [("k/v1", [])]  # it still lists
            assert hidden_leftovers(disk.root) == []
            (disk.root / ".filler").unlink()
            assert disk.add(small, Card(name="k")).ref == "k/v2"  # space again: the library goes on
        finally:
            disk.close()


def enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_enospc_while_copying_leaves_nothing_half(library, tmp_path, monkeypatch):
    """The same failure injected at the copy, for machines that can't mount a small disk."""
    source = make_adapter(tmp_path / "a")
    library.add(source, Card(name="k"))
    monkeypatch.setattr(shutil, "copyfile", enospc)
    with pytest.raises(LibraryError, match="is full: free some space"):
        library.add(source, Card(name="k"))
    with pytest.raises(LibraryError, match="is full"):
        library.add(source, Card(name="other"))
    monkeypatch.undo()
    assert [e.ref for e in library.entries()] == ["k/v1"] and library.check() == []
    assert hidden_leftovers(library.root) == [] and not (library.root / "other").exists()


def test_enospc_writing_a_card_changes_nothing(library, tmp_path, monkeypatch):
    from studio.core import atomic

    entry = library.add(make_adapter(tmp_path / "a"), Card(name="k", tags=["old"]))
    monkeypatch.setattr(atomic, "write_bytes", enospc)
    for change in (lambda: library.tag(entry.ref, add=["new"]), lambda: library.set_notes(entry.ref, "n")):
        with pytest.raises(LibraryError, match="is full"):
            change()
    monkeypatch.undo()
    assert [(e.tags, e.notes) for e in library.entries()] == [(["old"], "")] and library.check() == []


def index_full(*_args, **_kwargs):
    raise sqlite3.OperationalError("database or disk is full")


def test_a_full_index_after_the_commit_completes_the_version(library, tmp_path, monkeypatch):
    """The disk fills between the version folder's rename (the commit) and its index row:
    the version is complete and filed; the index catches up at the next read, and a
    reader that can't write the index lists from the folders meanwhile."""
    monkeypatch.setattr(LibraryIndex, "upsert", index_full)
    entry = library.add(make_adapter(tmp_path / "a"), Card(name="k"))
    assert entry.ref == "k/v1" and (Path(entry.path) / "adapter_model.safetensors").is_file()
    other = Library()  # another process, the disk still full
    try:
        assert [e.ref for e in other.entries()] == ["k/v1"] and "full" in (other.unwritable or "")
    finally:
        other.close()
    monkeypatch.undo()
    assert [e.ref for e in library.entries()] == ["k/v1"] and library.check() == []


# -- 4: a read-only library --------------------------------------------------------------------


def test_a_read_only_library_lists_from_its_folders_and_refuses_changes_in_a_sentence(library, tmp_path):
    first = library.add(make_adapter(tmp_path / "a"), Card(name="k", tags=["keep"]))
    library.add(make_adapter(tmp_path / "b"), Card(name="k"))
    library.delete("k/v2")
    library.close()
    with read_only(library.root) as how:
        shut = Library()
        try:
            assert shut.unwritable and ("read-only" in shut.unwritable or "may not use" in shut.unwritable), how
            assert [(e.ref, e.tags) for e in shut.entries()] == [("k/v1", ["keep"])]
            assert [e.ref for e in shut.search(trashed=True)] == ["k/v2"]
            assert shut.resolve("k").entry.ref == "k/v1"
            source = make_adapter(tmp_path / "c")
            for change in (lambda: shut.add(source, Card(name="k")), lambda: shut.tag(first.ref, add=["x"]),
                           lambda: shut.set_notes(first.ref, "n"), lambda: shut.delete(first.ref),
                           lambda: shut.restore("k/v2"), lambda: shut.rename("k", "j"), lambda: shut.rebuild(),
                           lambda: import_adapter(shut, source)):
                with pytest.raises(LibraryError, match="read-only file system|may not use"):
                    change()
        finally:
            shut.close()
    after = Library()
    try:
        assert [(e.ref, e.tags, e.trashed) for e in after.entries(include_trashed=True)] == [
            ("k/v1", ["keep"], False), ("k/v2", [], True)]
        assert after.check() == [] and hidden_leftovers(after.root) == []
    finally:
        after.close()


def test_a_damaged_index_lists_from_the_folders_and_reindex_replaces_it(library, tmp_path):
    library.add(make_adapter(tmp_path / "a"), Card(name="k"))
    library.close()
    (library.root / "index.sqlite").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (library.root / f"index.sqlite{suffix}").unlink(missing_ok=True)
    damaged = Library()
    try:
        assert "damaged" in (damaged.unwritable or "") and [e.ref for e in damaged.entries()] == ["k/v1"]
        assert damaged.rebuild() == 1 and damaged.unwritable is None and damaged.check() == []
    finally:
        damaged.close()


# -- 5: a run is filed once --------------------------------------------------------------------


def test_a_run_added_again_gets_its_version_back(library, tmp_path):
    """A run killed after it was filed and before it said done, then resumed, is added again."""
    run_dir = run_folder(tmp_path, "20260101-0001-a")
    first = library.add_run(run_dir)
    again = library.add_run(run_dir)
    assert first.ref == again.ref == "pirate/v1" and [e.ref for e in library.entries()] == ["pirate/v1"]
    assert library.filed_run("20260101-0001-a", "pirate").ref == "pirate/v1"
    assert library.add_run(run_folder(tmp_path, "20260101-0002-b")).ref == "pirate/v2"  # another run: a version
    library.rename("pirate", "captain")
    assert library.add_run(run_dir).ref == "captain/v1"  # found under its new name too
    library.delete("captain/v1")
    with pytest.raises(LibraryError, match="in the trash: `lora-studio library restore captain/v1`"):
        library.add_run(run_folder(tmp_path, "20260101-0001-a", name="captain"))
    assert [e.ref for e in library.entries()] == ["captain/v2"]


FILER = """
import sys
from pathlib import Path
from studio.core.library import Library
with Library() as lib:
    print(lib.add_run(Path(sys.argv[1])).ref)
"""


@pytest.mark.integration
def test_racing_adds_of_one_run_file_it_once(library, tmp_path):
    run_dir = run_folder(tmp_path, "20260101-0003-c")
    procs = [subprocess.Popen([sys.executable, "-c", FILER, str(run_dir)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=os.environ.copy()) for _ in range(6)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    assert {out.strip() for out, _err in outputs} == {"pirate/v1"}
    assert [e.ref for e in library.entries()] == ["pirate/v1"]


# -- 7: tags from racing processes ------------------------------------------------------------

TAGGER = """
import sys
from studio.core.library import Library
with Library() as lib:
    lib.tag("k2/v1", add=[sys.argv[1]])
    lib.set_notes("k2/v1", "written by " + sys.argv[1])
"""


@pytest.mark.integration
def test_ten_processes_tagging_one_version_keep_every_tag(library, tmp_path):
    library.add(make_adapter(tmp_path / "a"), Card(name="k2", tags=["first"]))
    procs = [subprocess.Popen([sys.executable, "-c", TAGGER, f"p{i}"], cwd=REPO, stderr=subprocess.PIPE,
                              env=os.environ.copy()) for i in range(10)]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * 10
    entry = library.resolve("k2/v1").entry
    assert sorted(entry.tags) == sorted(["first", *(f"p{i}" for i in range(10))])
    assert entry.notes.startswith("written by p")


# -- 8: zips ---------------------------------------------------------------------------------


def raw_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A deflated zip written by hand, each distinct payload compressed once: 2,000 members of
    1 MiB of zeros take milliseconds (zipfile would deflate 2 GiB)."""
    packed: dict[bytes, tuple[bytes, int]] = {}
    local, central = bytearray(), bytearray()
    for name, data in members:
        if data not in packed:
            squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
            packed[data] = (squeeze.compress(data) + squeeze.flush(), zlib.crc32(data))
        body, crc = packed[data]
        raw = name.encode()
        fields = struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0, crc, len(body), len(data), len(raw), 0)
        central += struct.pack("<IH", 0x02014B50, 20) + fields + struct.pack("<HHHII", 0, 0, 0, 0, len(local)) + raw
        local += struct.pack("<I", 0x04034B50) + fields + raw + body
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def adapter_members(source: Path) -> list[tuple[str, bytes]]:
    return [(file.name, file.read_bytes()) for file in sorted(source.iterdir())]


def library_files(library: Library) -> list[str]:
    return sorted(str(p.relative_to(library.root)) for p in library.root.rglob("*")
                  if not p.name.startswith(("index.sqlite", ".lock")))


def test_two_thousand_members_of_one_mib_are_refused_before_writing(library, tmp_path, monkeypatch):
    members = adapter_members(make_adapter(tmp_path / "a"))
    members += [(f"pad{i:04d}.bin", b"\0" * (1 << 20)) for i in range(2000)]
    bomb = raw_zip(tmp_path / "bomb.zip", members)
    assert bomb.stat().st_size < 4 << 20  # 2 GiB unpacked from a few MB
    with pytest.raises(LibraryError, match="2002 entries; an adapter has a handful of files"):
        import_adapter(library, bomb)
    monkeypatch.setattr(importing_module, "MAX_MEMBERS", 10_000)  # without the count cap, the size cap holds
    with pytest.raises(LibraryError, match="besides the weights it unpacks to 2000 MiB"):
        import_adapter(library, bomb)
    assert library_files(library) == [] and library.entries() == []


def test_members_past_the_side_files_cap_are_refused_before_writing(library, tmp_path, monkeypatch):
    monkeypatch.setattr(importing_module, "MAX_SIDE_BYTES", 4 << 20)  # the cap, scaled down for the test
    members = adapter_members(make_adapter(tmp_path / "a"))
    members += [(f"extra{i}.txt", os.urandom(1 << 20)) for i in range(5)]
    with pytest.raises(LibraryError, match="besides the weights it unpacks to 5 MiB"):
        import_adapter(library, raw_zip(tmp_path / "big.zip", members))
    assert library_files(library) == []


def test_weights_longer_than_their_header_says_are_refused(library, tmp_path):
    members = dict(adapter_members(make_adapter(tmp_path / "a")))
    members["adapter_model.safetensors"] += os.urandom(2 << 20)  # 2 MiB that no tensor owns
    with pytest.raises(LibraryError, match="unpacks to .* bytes but its header describes"):
        import_adapter(library, raw_zip(tmp_path / "padded.zip", list(members.items())))
    assert library_files(library) == []


def test_only_adapter_files_are_copied_and_the_rest_is_named(library, tmp_path):
    source = make_adapter(tmp_path / "a")
    members = adapter_members(source) + [("tokenizer.json", b"{}"), ("run_me.sh", b"rm -rf ~\n"),
                                         (".hidden", b"x"), ("__MACOSX/._adapter_config.json", b"x")]
    result = import_adapter(library, raw_zip(tmp_path / "extra.zip", members))
    assert sorted(p.name for p in Path(result.entry.path).iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "card.json", "tokenizer.json"]
    left_out = next(w for w in result.warnings if w.startswith("left out"))
    assert "run_me.sh" in left_out and ".hidden" in left_out and "3 file(s)" in left_out
    (source / "run_me.sh").write_text("rm -rf ~\n")
    from_folder = import_adapter(library, source, name="folder")
    assert not (Path(from_folder.entry.path) / "run_me.sh").exists() and "run_me.sh" in from_folder.warnings[0]


def test_a_duplicate_member_is_refused_in_a_sentence(library, tmp_path):
    source = make_adapter(tmp_path / "a")
    archive = tmp_path / "twice.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(archive, "w") as handle:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate it is told to write
        for file in source.iterdir():
            handle.write(file, file.name)
        handle.writestr("adapter_config.json", json.dumps({"peft_type": "LORA", "r": 999}))
    with pytest.raises(LibraryError, match="holds 'adapter_config.json' twice"):
        import_adapter(library, archive)
    assert library_files(library) == []


# -- 9: strings from outside, shown ------------------------------------------------------------


def test_printable_drops_escapes_and_control_characters():
    hostile = "tiny\x1b]0;pwned\x07-llama\x1b[2J\x1b[31m red\x1b[0m\r\x08\x00\u202eevil\tend"
    assert printable(hostile) == "tiny-llama redevil end"
    assert printable("line\nnext", keep_newlines=True) == "line\nnext" and printable("a\nb") == "ab"
    assert printable("[/x] ünïcode → ok") == "[/x] ünïcode → ok"  # markup is rich's escape's job


def test_an_imported_config_keeps_its_escapes_out_of_what_is_shown(library, tmp_path):
    source = make_adapter(tmp_path / "a")
    config = json.loads((source / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "evil\x1b]0;pwned\x07\x1b[2J[/x]"
    (source / "adapter_config.json").write_text(json.dumps(config))
    result = import_adapter(library, source)
    entry = library.resolve(result.entry.ref).entry
    assert "\x1b" not in printable(entry.base_id) and printable(entry.base_id) == "evil[/x]"
    assert all("\x1b" not in printable(w) for w in result.warnings)
