"""``lora-studio library export REF DEST`` where DEST is already taken (issue 22): a file given as
the folder, or a folder given as the .zip, is refused in one sentence with exit 2, never a
traceback, and what was there is left as it was. Run in process: no worker starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from library_support import make_adapter

from studio.cli.main import main
from studio.core import protocol


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A version in the (temp) library: ``pirate/v1``."""
    monkeypatch.setenv("COLUMNS", "300")  # rich keeps each sentence on one line
    assert main(["library", "import", str(make_adapter(tmp_path / "adapter")), "--name", "pirate"]) == 0
    return "pirate/v1"


def export(ref: str, destination: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["library", "export", ref, str(destination)])
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def test_exporting_onto_an_existing_file_is_refused_in_a_sentence(imported, tmp_path, capsys) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    code, said = export(imported, taken, capsys)
    assert code == protocol.EXIT_BAD_JOB, said
    assert f"error: {taken} is a file: give a new folder, or a name ending in .zip" in said
    assert "Traceback" not in said
    assert taken.read_text() == "mine"  # left as it was


def test_exporting_a_zip_onto_an_existing_folder_is_refused_in_a_sentence(imported, tmp_path, capsys) -> None:
    taken = tmp_path / "d.zip"
    taken.mkdir()
    (taken / "mine.txt").write_text("mine")
    code, said = export(imported, taken, capsys)
    assert code == protocol.EXIT_BAD_JOB, said
    assert f"error: could not write {taken}: Is a directory" in said
    assert "Traceback" not in said
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".d.zip")] == []  # no temp file left
    assert [p.name for p in taken.iterdir()] == ["mine.txt"]


def test_exporting_into_a_new_zip_and_a_new_folder_still_works(imported, tmp_path, capsys) -> None:
    for destination in (tmp_path / "out.zip", tmp_path / "out"):
        code, said = export(imported, destination, capsys)
        assert code == 0 and f"exported to {destination}" in said, said
    assert (tmp_path / "out.zip").is_file() and (tmp_path / "out" / "adapter_config.json").is_file()


def test_an_export_named_like_markup_is_said_as_written(imported, tmp_path, capsys) -> None:
    destination = tmp_path / "pirate[/x][bold].zip"
    code, said = export(imported, destination, capsys)
    assert code == 0 and destination.is_file(), said
    assert f"exported to {destination}" in said
