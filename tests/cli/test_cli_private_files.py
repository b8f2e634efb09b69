"""What a run read and wrote is its owner's alone, and errors don't quote a file (issue 22, 11).

A dataset can be any file the user can read; its first line used to be quoted whole into
world-readable events.jsonl and worker.log, in world-readable run folders.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cli_support import cli_env, run_cli, run_dirs, tiny_train_args

pytestmark = pytest.mark.integration  # starts a worker


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_runs_library_and_a_run_s_files_are_private(tiny_model_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run_cli(*tiny_train_args(tiny_model_dir, max_steps=2, save_steps=0), env=cli_env(home), timeout=300)
    assert result.returncode == 0, result.output
    (run,) = run_dirs(home)
    for folder in (home, home / "runs", home / "library", run):
        assert _mode(folder) == 0o700, (folder, oct(_mode(folder)))
    for name in ("events.jsonl", "worker.log"):
        assert _mode(run / name) & 0o077 == 0, (name, oct(_mode(run / name)))


def test_a_file_that_is_not_a_dataset_is_not_quoted_whole_nor_read_as_emoji(tmp_path: Path) -> None:
    secret = "root:x:0:0:" + "S" * 80 + ":/root:/bin/bash"
    data = tmp_path / "passwd.csv"
    data.write_text(f"{secret}\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", encoding="utf-8")
    result = run_cli("datasets", "inspect", str(data), env=cli_env(tmp_path / "home"))
    assert result.returncode != 0 and "cannot tell the dataset format" in result.words
    assert secret not in result.flat and "S" * 50 not in result.output
    assert "root:x:0:0:" in result.flat  # its start, as written: ':x:' is not turned into an emoji
