"""``lora-studio models --add`` and ``lora-studio settings``, run in-process: the settings file
the app shares with the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli.main import main
from studio.core import protocol
from studio.core import settings as user_settings


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables keep whole values on one line
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")  # only the bundled model and ours


def models(capsys) -> list[str]:
    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    return [m["id"] for m in json.loads(capsys.readouterr().out)]


def test_a_remembered_folder_is_listed_until_forgotten(capsys, tiny_model_dir: Path):
    assert f"path:{tiny_model_dir}" not in models(capsys)
    assert main(["models", "--add", str(tiny_model_dir)]) == 0
    assert user_settings.load().model_folders == [str(tiny_model_dir)]
    assert models(capsys)[-1] == f"path:{tiny_model_dir}"
    assert main(["models", "--forget", str(tiny_model_dir)]) == 0
    assert f"path:{tiny_model_dir}" not in models(capsys) and user_settings.load().model_folders == []


def test_settings_are_shown_and_set(capsys):
    assert main(["settings", "--set", "theme=dark", "--set", "hang_timeout_s=90", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["theme"] == "dark" and shown["hang_timeout_s"] == 90
    assert user_settings.load().theme == "dark"
    assert main(["settings", "--set", "vram_card=16 GB (RTX 4080, T4)"]) == 0  # plain text is a string
    table = capsys.readouterr().out
    assert "vram_card" in table and "16 GB (RTX 4080, T4)" in table and "Light or dark colours" in table
    assert main(["settings", "--set", "theme=purple"]) == protocol.EXIT_BAD_JOB
    assert main(["settings", "--set", "colour=red"]) == protocol.EXIT_BAD_JOB
    assert "KEY one of model_folders" in capsys.readouterr().out
    assert user_settings.load().theme == "dark"  # nothing written by a refused change
