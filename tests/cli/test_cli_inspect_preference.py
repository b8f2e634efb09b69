"""``datasets inspect`` on preference files names the format and shows each pair's chosen and rejected
reply side by side; ``train`` (an SFT job) refuses a pair file before any run exists. In-process."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from cli_support import Result, run_dirs

from studio.cli.main import main
from studio.core import protocol


def cli(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def pairs(path: Path) -> Path:
    rows = [{"prompt": [{"role": "user", "content": "Say hi."}], "chosen": [{"role": "assistant", "content": "Ahoy!"}],
             "rejected": [{"role": "assistant", "content": "Hello [/INST]."}]},
            {"prompt": "Name a sea.", "chosen": "The Baltic, matey!", "rejected": "The Baltic, matey!"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_inspect_names_the_preference_format_and_shows_chosen_beside_rejected(tmp_path):
    result = cli("datasets", "inspect", pairs(tmp_path / "prefs.jsonl"), "--bad-rows-limit", "0.5")
    assert result.returncode == 0, result.output
    assert "format preference" in result.stdout and "1 good, 1 bad" in result.stdout
    assert "preference pairs (prompt, chosen, rejected): they train with training.stage = \"dpo\"" in result.stdout
    header = next(line for line in result.stdout.splitlines() if "prompt" in line and "chosen" in line)
    assert header.index("prompt") < header.index("chosen") < header.index("rejected")
    row = next(line for line in result.stdout.splitlines() if "Ahoy!" in line)
    assert "Say hi." in row and "Hello [/INST]." in row  # side by side, the text shown as written
    assert "line 2, field 'rejected': is the same reply as chosen" in result.stdout


def test_inspect_shows_kto_labels(tmp_path):
    path = tmp_path / "kto.csv"
    path.write_text("prompt,completion,label\nSay hi.,Ahoy!,true\nSay hi.,Go away.,false\n", encoding="utf-8")
    result = cli("datasets", "inspect", path)
    assert result.returncode == 0, result.output
    assert "format kto" in result.stdout and "labelled desirable or undesirable" in result.stdout
    assert 'they train with training.stage = "kto"' in result.stdout
    assert "desirable" in result.stdout and "undesirable" in result.stdout


def test_inspect_the_bundled_preference_sample_by_name():
    result = cli("datasets", "inspect", "bundled-preference", "--rows", "2")
    assert result.returncode == 0, result.output
    assert "format preference" in result.stdout and "0 bad" in result.stdout and "first 2 pairs" in result.stdout


def test_an_sft_train_refuses_a_pair_file_before_any_run(tmp_path, studio_home):
    result = cli("train", "--dataset", pairs(tmp_path / "prefs.jsonl"))
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "this is preference data" in result.words and 'training.stage = "dpo"' in result.words
    assert run_dirs(studio_home) == []


def test_a_dpo_train_refuses_an_sft_file_before_any_run(studio_home):
    """What a pair needs is said before a run folder exists or a worker starts."""
    result = cli("train", "--stage", "dpo", "--dataset", "bundled", "--max-steps", "1")
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "row needs a prompt, a chosen reply and a rejected one" in result.words
    assert 'train this file with training.stage = "sft"' in result.words
    assert run_dirs(studio_home) == []
