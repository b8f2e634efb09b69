"""``lora-studio train --report-to``: a tracker this machine lacks is refused before any run
starts, with the install command; the worker is stubbed out (``run_job``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio.cli import train_commands
from studio.cli.main import main
from studio.core import trackers


@pytest.fixture
def started(monkeypatch) -> list:
    jobs: list = []

    def run_job(job, run_dir, console, **_kwargs):
        jobs.append(job)
        return SimpleNamespace(final=None, exit_code=0), []

    monkeypatch.setattr(train_commands, "run_job", run_job)
    monkeypatch.setenv("COLUMNS", "400")
    return jobs


def test_a_tracker_that_is_not_installed_is_refused_with_the_install_hint(started, monkeypatch, capsys):
    monkeypatch.setattr(trackers, "installed", lambda name: name != "wandb")
    assert main(["train", "--device", "cpu", "--report-to", "tensorboard,wandb"]) == 2
    out = capsys.readouterr().out
    assert "training.report_to wandb is not installed: pip install 'lora-studio[trackers]'" in out
    hint = next(line for line in out.splitlines() if line.startswith("hint:"))
    assert "lora-studio[trackers]" in hint and started == []


def test_installed_trackers_reach_the_job(started, monkeypatch):
    monkeypatch.setattr(trackers, "installed", lambda name: True)
    assert main(["train", "--device", "cpu", "--max-steps", "1", "--report-to", "mlflow,tensorboard",
                 "--mlflow-tracking-uri", "http://127.0.0.1:5000"]) == 0
    (job,) = started
    assert job.training.report_to == ["mlflow", "tensorboard"]
    assert job.training.mlflow_tracking_uri == "http://127.0.0.1:5000"


def test_an_unknown_tracker_name_is_an_argument_error(started, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["train", "--report-to", "tensorbord"])
    assert exited.value.code == 2 and started == []
    assert "expected trackers from auto, none, tensorboard, mlflow, wandb, trackio" in capsys.readouterr().err
