"""The SLURM array recipe, run by a local scheduler: ``lora-studio sweep FILE --write-trials DIR``,
then scripts/slurm_sweep_array.sh once per SLURM_ARRAY_TASK_ID, two at a time (xargs -P 2, as an
array's tasks run side by side), then ``--collect DIR`` tells the study each trial's result from its
run folder and files the best: the commands docs/sweeps.md gives, as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from sweep_helpers import sweep_file

from studio.core import runs
from studio.core.library import Library
from studio.core.sweeps.study import storage

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "scripts/slurm_sweep_array.sh"


def test_a_slurm_array_runs_the_written_trials_and_collect_tells_the_study(tiny_model_dir, tmp_path):
    path = sweep_file(tmp_path, tiny_model_dir, "array", {"lora.r": [4, 8]}, steps=6, pruner="none")
    trials = tmp_path / "trials"
    env = dict(os.environ, PYTHONPATH=str(ROOT), LORA_STUDIO_PYTHON=sys.executable)
    sweep = [sys.executable, "-m", "studio", "sweep", str(path)]

    written = subprocess.run([*sweep, "--write-trials", str(trials)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
    assert written.returncode == 0, written.stdout + written.stderr
    assert f"sbatch --array=0-1 {SCRIPT} {trials}" in " ".join(written.stdout.split())

    tasks = subprocess.run(f"seq 0 1 | xargs -P 2 -I N env SLURM_ARRAY_TASK_ID=N bash {SCRIPT} {trials}",
                           shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    assert tasks.returncode == 0, tasks.stderr
    for n in (0, 1):
        run = trials / "runs" / f"trial-{n}"
        assert runs.last_event(run, "done") is not None and (run / runs.ADAPTER_NAME / "adapter_model.safetensors").exists()

    collected = subprocess.run([*sweep, "--collect", str(trials)], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=60)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "filed in the library as array/v1" in collected.stdout
    study = optuna.load_study(study_name="array", storage=storage("array"))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    for trial in study.trials:  # each trial told its own run's eval loss
        run = trials.resolve() / "runs" / f"trial-{trial.number}"
        assert trial.user_attrs["run_dir"] == str(run)
        assert trial.value == pytest.approx(runs.summarize(run).trained.metrics.eval_loss)
    with Library() as library:
        card = library.card("array/v1")
    assert card is not None and card.sweep["trial"] == min(study.trials, key=lambda t: t.value).number

    again = subprocess.run([*sweep, "--collect", str(trials)], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and "trial 0:" not in again.stdout  # told once: nothing left to tell
    assert [e.ref for e in Library().entries()] == ["array/v1"]
