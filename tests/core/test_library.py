"""The adapter library on real folders and a real SQLite index."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import zipfile
from pathlib import Path

import pytest
from library_support import LLAMA_TINY, make_adapter

from studio.core.cards import Card
from studio.core.library import Library, LibraryError, diff_cards, import_adapter
from studio.core.models.info import ModelInfo


@pytest.fixture
def library(studio_home: Path) -> Library:
    lib = Library()
    yield lib
    lib.close()


def card(name: str = "captain", loss: float = 1.0, **extra) -> Card:
    return Card.from_dict({"name": name, "method": "lora", "base_model": {"id": "bundled", "name": "SmolLM2-135M"},
            "lora": {"r": 4, "alpha": 8}, "peft_config": {"r": 4, "target_modules": ["q_proj"]},
            "dataset": {"path": "bundled"}, "training": {"learning_rate": 2e-4}, "metrics": {"train_loss": loss},
            **extra})


def test_versions_of_a_name_form_a_history(library, tmp_path):
    first = library.add(make_adapter(tmp_path / "a"), card())
    second = library.add(make_adapter(tmp_path / "b"), card(loss=0.5), parents=[first.ref])
    assert (first.ref, second.ref) == ("captain/v1", "captain/v2")
    assert [e.ref for e in library.history("captain")] == ["captain/v1", "captain/v2"]
    folder = Path(second.path)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "adapter_config.json",
                                                          "adapter_model.safetensors", "card.json"]
    saved = json.loads((folder / "card.json").read_text())
    assert (saved["name"], saved["version"], saved["parents"]) == ("captain", 2, ["captain/v1"])
    assert library.resolve("captain").entry.ref == "captain/v2"  # a bare name is its newest version
    ancestors, children = library.lineage("captain/v1")
    assert ancestors == [] and [c.ref for c in children] == ["captain/v2"]
    assert library.lineage("captain/v2")[0] == [("captain/v1", [])]


def test_search_tags_notes_and_rebuild(library, tmp_path):
    library.add(make_adapter(tmp_path / "a"), card("pirate"))
    library.add(make_adapter(tmp_path / "b"), card("poet", method="lora+dora",
                                                    base_model={"id": "/m/qwen", "name": "Qwen2-0.5B"}))
    library.tag("pirate/v1", add=["best", "demo"])
    library.set_notes("poet/v1", "writes sonnets")
    assert [e.ref for e in library.search(tag="best")] == ["pirate/v1"]
    assert [e.ref for e in library.search(text="sonnet")] == ["poet/v1"]
    assert [e.ref for e in library.search(base="qwen")] == ["poet/v1"]
    assert [e.ref for e in library.search(method="dora")] == ["poet/v1"]
    assert json.loads((Path(library.resolve("pirate/v1").entry.path) / "card.json").read_text())["tags"] == [
        "best", "demo"]
    before = [(e.ref, e.tags, e.notes) for e in library.entries()]
    library.close()
    (library.root / "index.sqlite").unlink()  # the index is only an index
    for suffix in ("-wal", "-shm"):
        (library.root / f"index.sqlite{suffix}").unlink(missing_ok=True)
    rebuilt = Library()
    assert rebuilt.rebuild() == 2
    assert [(e.ref, e.tags, e.notes) for e in rebuilt.entries()] == before
    rebuilt.close()


def test_trash_restore_and_versions_are_never_reused(library, tmp_path):
    library.add(make_adapter(tmp_path / "a"), card())
    library.delete("captain/v1")
    assert library.entries() == [] and not (library.root / "captain").exists()
    assert [e.ref for e in library.search(trashed=True)] == ["captain/v1"]
    assert library.add(make_adapter(tmp_path / "b"), card()).ref == "captain/v2"
    library.restore("captain/v1")
    assert [e.ref for e in library.entries()] == ["captain/v1", "captain/v2"]
    with pytest.raises(LibraryError, match="not in the trash"):
        library.restore("captain/v1")


def test_rename_moves_the_history_and_keeps_lineage(library, tmp_path):
    parent = library.add(make_adapter(tmp_path / "a"), card("draft"))
    library.add(make_adapter(tmp_path / "b"), card("child"), parents=[parent.ref])
    library.rename("draft", "final")
    assert [e.ref for e in library.history("final")] == ["final/v1"] and library.history("draft") == []
    assert library.resolve("child/v1").entry.parents == ["final/v1"]
    assert library.card("final/v1").name == "final"
    library.add(make_adapter(tmp_path / "c"), card("other"))
    with pytest.raises(LibraryError, match="taken"):
        library.rename("final", "other")


def test_reindex_finishes_a_rename_cut_short_after_its_folder_moved(library, tmp_path):
    """The state a kill inside rename leaves: the folder moved (the commit), no card rewritten."""
    parent = library.add(make_adapter(tmp_path / "a"), card("k7"))
    library.add(make_adapter(tmp_path / "b"), card("child"), parents=[parent.ref])
    os.rename(library.root / "k7", library.root / "k8")
    assert "k8/v1: card.json says k7/v1" in library.check()
    library.rebuild()
    assert library.check() == []
    assert library.card("k8/v1").name == "k8"
    assert library.resolve("child/v1").entry.parents == ["k8/v1"]


def test_export_folder_and_zip_round_trip_through_import(library, tmp_path):
    library.add(make_adapter(tmp_path / "a"), card())
    folder = library.export("captain/v1", tmp_path / "out")
    assert (folder / "adapter_model.safetensors").exists() and (folder / "card.json").exists()
    archive = library.export("captain/v1", tmp_path / "captain.zip")
    assert sorted(zipfile.ZipFile(archive).namelist()) == ["README.md", "adapter_config.json",
                                                           "adapter_model.safetensors", "card.json"]
    tiny = ModelInfo(id="path:/m/tiny", name="tiny", path=tmp_path, source="folder", config=LLAMA_TINY,
                     architecture="LlamaForCausalLM", model_type="llama")
    result = import_adapter(library, archive, name="again", known_models=[tiny])
    assert result.entry.ref == "again/v1" and result.base is tiny and result.warnings == []
    assert library.card("again/v1").base_model.id == "path:/m/tiny"


def test_import_warns_when_no_known_model_matches(library, tmp_path):
    odd = make_adapter(tmp_path / "odd", modules={"q_proj": (128, 128)})
    tiny = ModelInfo(id="path:/m/tiny", name="tiny", path=tmp_path, source="folder", config=LLAMA_TINY,
                     architecture="LlamaForCausalLM", model_type="llama")
    result = import_adapter(library, odd, known_models=[tiny])
    assert result.base is None and "no known base model" in result.warnings[0] and "q_proj 128→128" in result.warnings[0]


@pytest.mark.parametrize(("entry", "words"), [
    ("../evil.txt", "outside its folder"), ("/etc/evil.txt", "absolute path"), ("a/../../evil.txt", "outside")])
def test_hostile_zips_are_refused_and_write_nothing(library, tmp_path, entry, words):
    source = make_adapter(tmp_path / "a")
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for file in source.iterdir():
            handle.write(file, file.name)
        handle.writestr(entry, "pwned")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(LibraryError, match=words):
        import_adapter(library, archive)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (library.root.parent / "evil.txt").exists() and library.entries() == []
    assert [p.name for p in library.root.iterdir() if not p.name.startswith(("index.sqlite", ".lock"))] == []


def test_a_symlink_in_a_zip_is_refused(library, tmp_path):
    source = make_adapter(tmp_path / "a")
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for file in source.iterdir():
            handle.write(file, file.name)
        link = zipfile.ZipInfo("adapter_extra")
        link.external_attr = (0o120777 << 16)
        handle.writestr(link, "/etc/passwd")
    with pytest.raises(LibraryError, match="symbolic link"):
        import_adapter(library, archive)


def test_pickle_weights_need_explicit_permission(library, tmp_path):
    folder = make_adapter(tmp_path / "old")
    (folder / "adapter_model.safetensors").rename(folder / "adapter_model.bin")
    with pytest.raises(LibraryError, match="pickle"):
        import_adapter(library, folder)
    assert library.entries() == []
    result = import_adapter(library, folder, allow_pickle=True)
    assert (Path(result.entry.path) / "adapter_model.bin").exists() and "pickle" in result.warnings[0]


def test_a_symlinked_file_in_a_folder_is_refused(library, tmp_path):
    folder = make_adapter(tmp_path / "a")
    os.symlink("/etc/hostname", folder / "README.md")
    with pytest.raises(LibraryError, match="symbolic link"):
        import_adapter(library, folder)


def test_a_symlinked_extra_file_is_left_out_unread(library, tmp_path):
    folder = make_adapter(tmp_path / "a")
    os.symlink("/etc/hostname", folder / "notes.txt")
    result = import_adapter(library, folder)
    assert "notes.txt" in result.warnings[0] and not (Path(result.entry.path) / "notes.txt").exists()


def test_diff_names_what_changed(library, tmp_path):
    library.add(make_adapter(tmp_path / "a"), card(loss=1.0))
    library.add(make_adapter(tmp_path / "b"), card(loss=0.5, training={"learning_rate": 1e-4}))
    rows = dict((k, (a, b)) for k, a, b in diff_cards(library.card("captain/v1"), library.card("captain/v2")))
    assert rows["metrics.train_loss"] == (1.0, 0.5)
    assert rows["training.learning_rate"] == (2e-4, 1e-4)
    assert "lora.r" not in rows


def test_bad_names_and_refs_are_clear(library, tmp_path):
    with pytest.raises(LibraryError, match="not a library reference"):
        library.resolve("../x")
    with pytest.raises(LibraryError, match="no adapter named"):
        library.resolve("ghost")
    with pytest.raises(LibraryError, match="no adapter_config.json"):
        library.add(tmp_path, card())
    assert library.add(make_adapter(tmp_path / "a"), card("my adapter!")).name == "my-adapter"


def test_check_finds_what_a_crash_or_a_hand_edit_left(library, tmp_path):
    library.add(make_adapter(tmp_path / "a"), card())
    second = library.add(make_adapter(tmp_path / "b"), card())
    assert library.check() == []
    (Path(second.path) / "adapter_model.safetensors").unlink()
    stray = make_adapter(library.root / "stray" / "v1", card={"name": "stray", "version": 1})
    problems = library.check()
    assert any("captain/v2: no adapter weights" in p for p in problems)
    assert any("stray/v1: in the folders but not in the index" in p for p in problems)
    library.rebuild()
    assert [p for p in library.check() if "stray" in p] == [] and stray.exists()


def test_a_zip_bomb_is_refused(library, tmp_path):
    source = make_adapter(tmp_path / "a")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as handle:
        for file in source.iterdir():
            handle.write(file, file.name)
        handle.writestr("padding.bin", b"\0" * (8 << 20))  # 8 MiB of zeros: ~1000x compression
    with pytest.raises(LibraryError, match="zip bomb"):
        import_adapter(library, bomb)
    assert library.entries() == []


def read_while_a_writer_works(library: Library, read) -> list:
    """``read()`` in another thread while this one holds the writers' lock (a real flock, as an
    import or a rename holds it) and the index's SQLite write lock; what it returned.

    The join's timeout is a deadlock guard, not a speed limit: a read that waited for the
    writer would wait until this function let go, so the thread would still be alive."""
    results: list = []
    thread = threading.Thread(target=lambda: results.append(read()), daemon=True)
    writer = sqlite3.connect(library.index.path, isolation_level=None)
    try:
        with library.locked():
            writer.execute("BEGIN IMMEDIATE")  # mid-write, as an import or a rename is
            thread.start()
            thread.join(timeout=60)
            finished = not thread.is_alive()
            writer.execute("ROLLBACK")
    finally:
        writer.close()
    thread.join()
    assert finished, "the read waited for the writer"
    return results


def test_reading_the_library_waits_for_no_writer(library, tmp_path):
    """Listing, searching and resolving (what the pages do as the user types and filters)
    take no write lock: a writer holding the library's lock or the index does not stall them."""
    from studio.core.library import locate_adapter

    library.add(make_adapter(tmp_path / "a"), card())
    library.add(make_adapter(tmp_path / "b"), card("poet"))
    library.entries()  # synced: the folders are as the index last saw them

    def read() -> tuple:
        with Library() as reader:  # another window, or the CLI
            folder, ref = locate_adapter("captain/v1", reader)
            return ([e.ref for e in reader.entries()], [e.ref for e in reader.search(text="poet")],
                    reader.resolve("captain").entry.ref, ref, folder.name,
                    reader.filed_run("no-such-run", "captain"))

    assert read_while_a_writer_works(library, read) == [
        (["captain/v1", "poet/v1"], ["poet/v1"], "captain/v1", "captain/v1", "v1", None)]


def copy_in_behind_the_index(library: Library, source: str, target: str) -> None:
    """A version folder copied in by hand (a backup restored, another machine's library)."""
    folder = library.root / target
    shutil.copytree(library.resolve(source).path_obj, folder)
    saved = json.loads((folder / "card.json").read_text())
    name, version = target.split("/v")
    (folder / "card.json").write_text(json.dumps({**saved, "name": name, "version": int(version)}))


def test_a_folder_added_behind_the_index_shows_up_at_the_next_read(library, tmp_path):
    """Reads sync only when the folders changed since the last sync: a version copied in,
    a card edited in place and a version removed by hand are each seen."""
    library.add(make_adapter(tmp_path / "a"), card())
    assert [e.ref for e in library.entries()] == ["captain/v1"]
    copy_in_behind_the_index(library, "captain/v1", "captain/v2")
    copy_in_behind_the_index(library, "captain/v1", "sailor/v1")
    with Library() as other:
        assert [e.ref for e in other.entries()] == ["captain/v1", "captain/v2", "sailor/v1"]
    assert [e.ref for e in library.search(text="sailor")] == ["sailor/v1"]
    card_file = library.root / "sailor" / "v1" / "card.json"
    with card_file.open("r+") as handle:  # edited in place, as an editor may save it
        saved = json.loads(handle.read())
        handle.seek(0)
        handle.write(json.dumps({**saved, "notes": "edited by hand"}))
        handle.truncate()
    assert [e.notes for e in library.entries() if e.ref == "sailor/v1"] == ["edited by hand"]
    shutil.rmtree(library.root / "captain" / "v2")
    assert [e.ref for e in library.entries()] == ["captain/v1", "sailor/v1"] and library.check() == []


def test_a_folder_added_while_a_writer_works_is_listed_once_it_is_done(library, tmp_path):
    """A read that finds the folders changed while a writer holds the lock reads the index as it
    is (the writer's own change lands in it); the next read, the writer gone, syncs."""
    library.add(make_adapter(tmp_path / "a"), card())
    library.entries()
    copy_in_behind_the_index(library, "captain/v1", "captain/v2")

    def read() -> list[str]:
        with Library() as reader:
            return [e.ref for e in reader.entries()]

    assert read_while_a_writer_works(library, read) == [["captain/v1"]]
    assert read() == ["captain/v1", "captain/v2"]
