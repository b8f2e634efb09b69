"""A sweep on the tiny model with real workers: six trials over lr x rank through the queue, a driver
and a runner killed mid-trial and started again, a bad trial pruned early, the best in the library."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from sweep_helpers import end_runner, kill, sweep_file

from studio.core import paths, runs
from studio.core.library import Library
from studio.core.queue import runner
from studio.core.queue.store import QueueStore
from studio.core.sweeps.driver import SweepDriver
from studio.core.sweeps.spec import load_sweep
from studio.core.sweeps.study import read_study, storage_url

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
STEPS = 30


def test_a_sweep_resumes_after_kills_prunes_a_bad_trial_and_files_the_best(studio_home, tiny_model_dir, tmp_path):
    path = sweep_file(tmp_path, tiny_model_dir, "lr-rank", {"training.learning_rate": [1e-2, 3e-3, 1e-6],
                                                             "lora.r": [4, 8]}, steps=STEPS,
                      objective="eval_loss", pruner="median")
    driver = subprocess.Popen([sys.executable, "-m", "studio", "sweep", str(path)], cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "driver.log", "w"))
    try:
        deadline = time.monotonic() + 150
        mid_trial = False
        while time.monotonic() < deadline and not mid_trial:
            time.sleep(0.3)
            with contextlib.suppress(Exception):  # the study may not exist yet
                trials = optuna.load_study(study_name="lr-rank", storage=storage_url("lr-rank")).trials
                running = [t for t in trials if t.state.name == "RUNNING" and t.user_attrs.get("run_dir")]
                mid_trial = len(trials) >= 2 and any(
                    (runs.last_event(Path(t.user_attrs["run_dir"]), "step") or {}).get("step", 0) >= 2
                    for t in running)
        assert mid_trial, "the sweep did not reach a second trial's steps in time"
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        kill(runner.runner_pid())  # the queue's runner too: both die mid-trial

    try:
        SweepDriver(load_sweep(path), poll_s=0.2).run(max_s=400)
    finally:
        end_runner()

    view = read_study("lr-rank")
    assert len(view.trials) == 6 and sorted(t.number for t in view.trials) == list(range(6))
    combos = {(t.params["training.learning_rate"], t.params["lora.r"]) for t in view.trials}
    assert len(combos) == 6  # every grid point once: none lost, none twice
    states = [t.state for t in view.trials]
    assert set(states) <= {"complete", "pruned"} and "pruned" in states, states
    run_dirs = [t.run_dir for t in view.trials]
    assert len(set(run_dirs)) == 6 and len([p for p in paths.runs_dir().iterdir() if p.is_dir()]) == 6
    with QueueStore() as store:
        assert sorted(e.source for e in store.entries()) == sorted(f"sweep lr-rank trial {n}" for n in range(6))
    for trial in view.trials:
        if trial.state == "pruned":  # stopped early: before its last step, nothing of it saved
            summary = runs.summarize(Path(trial.run_dir))
            assert summary.status == "cancelled" and summary.step < STEPS
            assert trial.curve  # judged by its eval curve

    assert view.best is not None and view.best.params["training.learning_rate"] > 1e-6
    assert view.best_ref == "lr-rank/v1"
    with Library() as library:
        card = library.card("lr-rank/v1")
    assert card is not None and card.sweep["name"] == "lr-rank" and card.sweep["trial"] == view.best.number
    assert card.sweep["value"] == pytest.approx(view.best.value)
    assert "sweep-best" in card.tags
    assert [e.ref for e in Library().entries()] == ["lr-rank/v1"]  # the trials themselves stay in their runs
