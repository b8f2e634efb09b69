"""``lora-studio`` read-only commands, run as real subprocesses: help, version, models,
datasets inspect, runs (empty) and stop (nothing to stop)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import cli_env, run_cli

from studio import __version__
from studio.core import runs

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)

COMMANDS = ("models", "datasets", "train", "estimate", "generate", "runs", "stop", "demo")


# --- help and version --------------------------------------------------------------------------

def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.output
    assert "usage: lora-studio" in result.stdout
    for command in COMMANDS:
        assert command in result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.output
    assert result.stdout.strip() == f"lora-studio {__version__}"


def test_no_command_prints_help_and_exits_0() -> None:
    result = run_cli()
    assert result.returncode == 0, result.output
    assert "usage: lora-studio" in result.stdout
    assert "train" in result.stdout


@pytest.mark.parametrize("command", ["train", "models", "runs", "stop"])
def test_subcommand_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.output
    assert f"usage: lora-studio {command}" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("nonsense")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.output


# --- models --------------------------------------------------------------------------------------

@pytest.fixture
def models_env(tmp_path: Path) -> dict[str, str]:
    """An empty Hugging Face cache, so only the bundled model and --path ones are listed."""
    empty = tmp_path / "hf-cache"
    empty.mkdir()
    return cli_env(HF_HUB_CACHE=str(empty))


def _row(output: str, needle: str) -> str:
    return next(line for line in output.splitlines() if needle in line)


def test_models_lists_the_bundled_model_first(models_env, tiny_model_dir: Path) -> None:
    result = run_cli("models", "--path", str(tiny_model_dir), env=models_env)
    assert result.returncode == 0, result.output
    bundled = _row(result.stdout, "SmolLM2")
    for text in ("bundled", "LlamaForCausalLM", "135M"):
        assert text in bundled
    tiny = _row(result.stdout, tiny_model_dir.name)
    assert "LlamaForCausalLM" in tiny
    assert result.stdout.index("SmolLM2") < result.stdout.index(tiny_model_dir.name)


def test_models_without_path_lists_only_the_bundled_model(models_env) -> None:
    result = run_cli("models", "--json", env=models_env)
    assert result.returncode == 0, result.output
    models = json.loads(result.stdout)
    assert [m["source"] for m in models] == ["bundled"]


def test_models_json(models_env, tiny_model_dir: Path) -> None:
    result = run_cli("models", "--json", "--path", str(tiny_model_dir), env=models_env)
    assert result.returncode == 0, result.output
    models = json.loads(result.stdout)
    assert [m["id"] for m in models] == ["bundled:smollm2-135m-instruct", f"path:{tiny_model_dir}"]
    bundled, tiny = models
    assert bundled["architecture"] == "LlamaForCausalLM"
    assert bundled["source"] == "bundled"
    assert tiny["source"] == "folder"
    assert tiny["num_layers"] == 2
    assert tiny["hidden_size"] == 64


def test_models_small_model_parameter_count_is_not_zero(models_env, tiny_model_dir: Path) -> None:
    """The tiny model has ~150 K parameters; the table must not round that to "0M"."""
    result = run_cli("models", "--path", str(tiny_model_dir), env=models_env)
    assert result.returncode == 0, result.output
    row = _row(result.stdout, tiny_model_dir.name)
    assert " 0M " not in row
    assert "151K" in row


def test_models_broken_config_is_skipped_with_the_reason(models_env, tiny_model_dir: Path,
                                                         tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": ', encoding="utf-8")
    result = run_cli("models", "--path", str(broken), "--path", str(tiny_model_dir), env=models_env)
    assert result.returncode == 0, result.output
    text = " ".join(result.output.split())  # rich wraps a long path at the terminal's width
    assert f"skipped {broken}" in text
    assert "invalid JSON" in text.split(f"skipped {broken}", 1)[1]
    assert "Traceback" not in result.output
    assert tiny_model_dir.name in result.stdout  # the good one is still listed


# --- datasets inspect ----------------------------------------------------------------------------

def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _chat(user: str, assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def test_inspect_bundled_sample() -> None:
    result = run_cli("datasets", "inspect", "bundled")
    assert result.returncode == 0, result.output
    assert "format alpaca" in result.stdout
    assert "327 rows" in result.stdout
    assert "0 bad" in result.stdout
    assert "first 5 examples" in result.stdout


def test_inspect_good_chat_file(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "chat.jsonl", [_chat("Who are you?", "Captain Lora, matey!"),
                                            _chat("Name a sea.", "The Baltic, arr.")])
    result = run_cli("datasets", "inspect", str(path), "--rows", "2")
    assert result.returncode == 0, result.output
    assert "format messages" in result.stdout
    assert "2 rows, 2 good, 0 bad" in result.stdout
    assert "Captain Lora, matey!" in result.stdout
    assert "bad row" not in result.stdout


def test_inspect_bad_rows_name_file_line_and_field(tmp_path: Path) -> None:
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(4)]
    rows[2]["output"] = 5  # line 3
    path = _jsonl(tmp_path / "bad-rows.jsonl", rows)
    result = run_cli("datasets", "inspect", str(path))
    assert result.returncode == 3, result.output
    assert "1 bad" in result.stdout
    line = _row(result.stdout, "bad row")
    assert "bad-rows.jsonl" in line
    assert "line 3" in line
    assert "output" in line
    assert "expected a string, got number" in line
    assert "Traceback" not in result.output


def test_inspect_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"text": "café"}\n'.encode("latin-1"))
    result = run_cli("datasets", "inspect", str(path))
    assert result.returncode == 3, result.output
    assert "latin1.jsonl" in result.output
    assert "not valid UTF-8" in result.output
    assert "line 1" in result.output
    assert "Traceback" not in result.output


def test_inspect_missing_file(tmp_path: Path) -> None:
    result = run_cli("datasets", "inspect", str(tmp_path / "nowhere.jsonl"))
    assert result.returncode == 3, result.output
    assert "nowhere.jsonl" in result.output
    assert "does not exist; check the path" in result.flat
    assert "Traceback" not in result.output


def test_inspect_with_tokenizer_prints_token_stats(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = _jsonl(tmp_path / "chat.jsonl", [_chat("Who are you?", "Captain Lora, matey!"),
                                            _chat("Name a sea.", "The Baltic, arr.")])
    result = run_cli("datasets", "inspect", str(path), "--tokenizer", str(tiny_model_dir),
                     "--max-length", "8")
    assert result.returncode == 0, result.output
    line = _row(result.stdout, "tokens per example")
    for text in ("min", "median", "p95", "max", "longer than 8"):
        assert text in line
    assert "100.0% longer than 8" in line  # every row is longer than 8 tokens


def test_inspect_with_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "chat.jsonl", [_chat("Who are you?", "Captain Lora!")])
    result = run_cli("datasets", "inspect", str(path), "--tokenizer", str(tmp_path / "no-tokenizer.json"))
    assert result.returncode == 2, result.output
    assert "no-tokenizer.json" in result.output
    assert "Traceback" not in result.output


def test_inspect_shows_text_with_square_brackets_verbatim(tmp_path: Path) -> None:
    """Dataset text is data, not rich markup: Llama-2 style "[/INST]" once crashed the preview."""
    path = _jsonl(tmp_path / "brackets.jsonl", [_chat("<s>[INST] hi [/INST]", "use a[i] and [bold]x")])
    result = run_cli("datasets", "inspect", str(path))
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output
    assert "[INST] hi [/INST]" in result.stdout
    assert "use a[i] and [bold]x" in result.stdout


# --- runs and stop with nothing there ------------------------------------------------------------

def test_runs_empty_home() -> None:
    result = run_cli("runs", "--json")
    assert result.returncode == 0, result.output
    assert json.loads(result.stdout) == []
    table = run_cli("runs")
    assert table.returncode == 0, table.output
    assert "Runs in" in table.stdout


def test_stop_unknown_run_is_a_clear_error() -> None:
    result = run_cli("stop", "no-such-run")
    assert result.returncode == 2, result.output
    assert "no run matches 'no-such-run'" in result.output
    assert "Traceback" not in result.output


# --- names from outside, printed safely (issue 22) ------------------------------------------------

def test_a_model_folder_named_like_markup_or_escapes_is_listed_as_written(models_env, tiny_model_dir: Path,
                                                                          tmp_path: Path) -> None:
    odd = tmp_path / "odd[/x]\x1b]0;pwned\x07model"
    shutil.copytree(tiny_model_dir, odd)
    result = run_cli("models", "--path", str(odd), env=models_env)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output and "MarkupError" not in result.output
    assert "odd[/x]" in result.stdout  # the brackets shown, not read as rich markup
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout  # the terminal is not retitled


def test_runs_shows_whole_run_ids_at_80_columns(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = runs.create_run_dir("smollm2-135m-instruct", root=home / "runs")
    result = run_cli("runs", env=cli_env(home, COLUMNS="80"))
    assert result.returncode == 0, result.output
    assert run.name in result.stdout, result.stdout  # not "2026120…": --resume and library add take it
