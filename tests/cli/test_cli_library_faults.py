"""Issue 22's library findings through ``lora-studio`` for real: a finished run whose library
is read-only or full still ends done, with a warning naming ``library add`` (4); a resumed
run is filed once (5); ten racing ``library tag`` commands keep every tag (7); hostile zips
and escape sequences give sentences and clean output (8, 9); never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import REPO, cli_env, read_events, run_cli, run_dirs, tiny_train_args
from fault_disks import fill, read_only, small_disk
from library_support import make_adapter

pytestmark = pytest.mark.integration  # starts lora-studio processes

TIMEOUT = 300


def train(model_dir: Path, env: dict[str, str], *extra: str, save_steps: int = 0) -> tuple[Path, list[dict], str]:
    """A real 3-step `lora-studio train`: (its run folder, its events, its output)."""
    result = run_cli(*tiny_train_args(model_dir, max_steps=3, save_steps=save_steps), "--name", "pirate", *extra,
                     env=env, timeout=TIMEOUT)
    assert result.returncode == 0, result.output
    run_dir = run_dirs(Path(env["LORA_STUDIO_HOME"]))[-1]
    return run_dir, read_events(run_dir), result.output


def refs(env: dict[str, str]) -> list[str]:
    result = run_cli("library", "list", "--json", env=env)
    assert result.returncode == 0, result.output
    return [e["ref"] for e in json.loads(result.stdout)]


def assert_done_with_a_library_warning(run_dir: Path, events: list[dict], words: str) -> str:
    assert events[-1]["type"] == "done" and events[-1]["outputs"].get("library_ref") is None
    warning = next(e["message"] for e in events if e["type"] == "warning" and "not added to the library" in e["message"])
    assert words in warning and f"lora-studio library add {run_dir}" in warning, warning
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    return warning


@pytest.mark.slow
def test_a_finished_run_ends_done_when_the_library_is_read_only_and_is_filed_later(tmp_path, tiny_model_dir):
    home = tmp_path / "home"
    env = cli_env(home)
    assert refs(env) == []  # the library exists, empty
    with read_only(home / "library"):
        run_dir, events, output = train(tiny_model_dir, env)
        assert_done_with_a_library_warning(run_dir, events, "read-only file system" if os.geteuid() == 0
                                           else "may not use the library folder")
        assert "Traceback" not in output
        listed = run_cli("library", "list", env=env)
        assert listed.returncode == 0 and "Traceback" not in listed.output and "nothing in it can be changed" in listed.words
        refused = run_cli("library", "add", run_dir, env=env)
        assert refused.returncode == 2 and "Traceback" not in refused.output and "error:" in refused.output
    added = run_cli("library", "add", run_dir, env=env)
    assert added.returncode == 0 and "filed as pirate/v1" in added.output, added.output
    again = run_cli("library", "add", run_dir.name, env=env)
    assert again.returncode == 0 and "in the library already, as pirate/v1" in again.words, again.output
    assert refs(env) == ["pirate/v1"]


@pytest.mark.slow
def test_a_finished_run_ends_done_when_the_library_disk_is_full(tmp_path, tiny_model_dir):
    home = tmp_path / "home"
    env = cli_env(home)
    assert refs(env) == []
    with small_disk(home / "library", "1m") as library:
        fill(library)
        run_dir, events, output = train(tiny_model_dir, env)
        assert_done_with_a_library_warning(run_dir, events, "is full: free some space")
        assert refs(env) == [] and "Traceback" not in output
        assert sorted(p.name for p in library.iterdir() if not p.name.startswith("index.sqlite")) == [
            ".filler", ".lock"]  # no half version, no staging folder
        (library / ".filler").unlink()
        assert run_cli("library", "add", run_dir, env=env).returncode == 0 and refs(env) == ["pirate/v1"]


@pytest.mark.slow
def test_a_resumed_run_that_was_filed_is_not_filed_again(tmp_path, tiny_model_dir):
    """Killed after the library add and before done, then resumed: the resumed run adds its
    adapter again, and gets the version it already has (not v2 with the same weights)."""
    env = cli_env(tmp_path / "home")
    run_dir, events, _ = train(tiny_model_dir, env, save_steps=3)
    assert events[-1]["outputs"]["library_ref"] == "pirate/v1"
    resumed = run_cli("train", "--resume", run_dir.name, env=env, timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.output
    assert read_events(run_dir)[-1]["outputs"]["library_ref"] == "pirate/v1"
    assert refs(env) == ["pirate/v1"]


def test_ten_parallel_tag_commands_all_survive(tmp_path):
    env = cli_env(tmp_path / "home")
    assert run_cli("library", "import", make_adapter(tmp_path / "a"), "--name", "k2", env=env).returncode == 0
    procs = [subprocess.Popen([sys.executable, "-m", "studio.cli.main", "library", "tag", "k2/v1", f"p{i}"],
                              env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(10)]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 10, outputs
    shown = json.loads(run_cli("library", "show", "k2/v1", "--json", env=env).stdout)
    assert sorted(shown["card"]["tags"]) == sorted(f"p{i}" for i in range(10))


@contextlib.contextmanager
def unreadable_library(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A library this user can't read: (its home, the command prefix that runs as that user).
    As root, that user is 'nobody' (root reads everything); otherwise, a folder of mode 000."""
    if os.geteuid() != 0:
        home = tmp_path / "home"
        assert run_cli("library", "list", env=cli_env(home)).returncode == 0
        (home / "library").chmod(0)
        try:
            yield home, []
        finally:
            (home / "library").chmod(0o700)
        return
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv to run the CLI as another user")
    home = Path(tempfile.mkdtemp(prefix="lora-studio-unreadable-"))  # tmp_path's parents are closed to others
    try:
        assert run_cli("library", "list", env=cli_env(home)).returncode == 0
        home.chmod(0o711)
        (home / "library").chmod(0o700)
        yield home, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_library_list_on_an_unreadable_library_is_one_sentence(tmp_path):
    with unreadable_library(tmp_path) as (home, as_other):
        result = subprocess.run([*as_other, sys.executable, "-m", "studio.cli.main", "library", "list"],
                                env=cli_env(home), cwd=REPO, capture_output=True, text=True, timeout=120)
        output = result.stdout + result.stderr
        assert result.returncode == 2 and "Traceback" not in output, output
        assert output.replace("\n", "").startswith("error: this user may not use the library folder"), output


def test_a_library_folder_that_is_a_file_lists_with_a_sentence(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "library").write_text("not a folder")
    listed = run_cli("library", "list", env=cli_env(home))
    assert listed.returncode == 0 and "Traceback" not in listed.output and "The library is empty" in listed.output
    assert "note:" in listed.output
    added = run_cli("library", "import", make_adapter(tmp_path / "a"), env=cli_env(home))
    assert added.returncode == 2 and "Traceback" not in added.output and "error:" in added.output


def test_hostile_zips_get_sentences_and_extra_files_are_named(tmp_path):
    env = cli_env(tmp_path / "home")
    source = make_adapter(tmp_path / "a")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as handle:
        for file in source.iterdir():
            handle.write(file, file.name)
        for i in range(300):
            handle.writestr(f"pad{i}.bin", b"\0" * 1024)
    refused = run_cli("library", "import", bomb, env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.output and "302 entries" in refused.words
    extra = tmp_path / "extra.zip"
    with zipfile.ZipFile(extra, "w") as handle:
        for file in source.iterdir():
            handle.write(file, file.name)
        handle.writestr("run_me.sh", "rm -rf ~\n")
        handle.writestr(".hidden", "x")
    imported = run_cli("library", "import", extra, env=env)
    assert imported.returncode == 0 and "left out 2 file(s)" in imported.words and "run_me.sh" in imported.flat
    version = tmp_path / "home" / "library" / "extra" / "v1"
    assert not (version / "run_me.sh").exists() and not (version / ".hidden").exists()


def test_escape_sequences_in_an_imported_config_are_not_printed(tmp_path):
    env = cli_env(tmp_path / "home")
    source = make_adapter(tmp_path / "evil")
    config = json.loads((source / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "tiny\x1b]0;pwned\x07\x1b[2J\x1b[31m[/x]-llama"
    config["peft_type"] = "LORA\x1b[8m"
    (source / "adapter_config.json").write_text(json.dumps(config))
    imported = run_cli("library", "import", source, env=env)
    listed = run_cli("library", "list", env=env)
    for result in (imported, listed):
        assert result.returncode == 0 and "Traceback" not in result.output, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output
    assert "tiny[/x]-llama" in imported.flat and "tiny[/x]-llama" in listed.flat
