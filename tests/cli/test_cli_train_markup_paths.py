"""``lora-studio train`` with a home folder and a model folder named like rich markup (issue 22):
``run … in <home>/runs/…`` raised rich's MarkupError when ``LORA_STUDIO_HOME`` held ``[/x]``.
Every path and name the train commands print now goes through ``studio.cli.shown``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_support import cli_env, run_cli, run_dirs, tiny_train_args

pytestmark = pytest.mark.integration  # starts a worker

TRAIN_TIMEOUT = 300  # seconds; one step takes a few seconds on an idle 2-core machine


def test_a_home_and_a_model_named_like_markup_train_and_print_as_written(tmp_path: Path,
                                                                          tiny_model_dir: Path) -> None:
    home = tmp_path / "home[/x][bold]"
    model = tmp_path / "tiny[/x]model"
    shutil.copytree(tiny_model_dir, model)
    result = run_cli(*tiny_train_args(model, max_steps=1, save_steps=0), env=cli_env(home), timeout=TRAIN_TIMEOUT)
    assert "Traceback" not in result.output and "MarkupError" not in result.output, result.output
    assert result.returncode == 0, result.output
    [run_dir] = run_dirs(home)
    assert f"run {run_dir.name} in {run_dir}" in result.flat, result.output  # the brackets shown as written
    assert f"loading_model {model}" in result.flat  # a worker's phase detail, through the progress printer
    assert f"in {run_dir}/adapter" in result.flat  # the done line
    assert "\x1b" not in result.stdout
