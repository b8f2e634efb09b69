"""Two machines, one study: two drivers with their own homes (their own queue, runs and library) share
one Optuna SQLite file through LORA_STUDIO_SWEEP_STORAGE and run the same grid at once. Each grid point
runs exactly once between them, and the machine that ran the best trial files it in its library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from sweep_helpers import end_runner, kill, sweep_file

from studio.core.library import Library
from studio.core.sweeps.study import OWNER_ATTR, STORAGE_ENV

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_two_machines_sharing_one_study_run_each_grid_point_once(tiny_model_dir, tmp_path, monkeypatch):
    shared = f"sqlite:///{tmp_path / 'shared-study.sqlite'}"
    path = sweep_file(tmp_path, tiny_model_dir, "shared", {"training.learning_rate": [1e-2, 1e-3], "lora.r": [4, 8]},
                      steps=4, training={"eval_steps": 0}, pruner="none")
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    drivers = [subprocess.Popen([sys.executable, "-m", "studio", "sweep", str(path)], cwd=ROOT,
                                env=dict(os.environ, PYTHONPATH=str(ROOT), LORA_STUDIO_HOME=str(home),
                                         OMP_NUM_THREADS="1", **{STORAGE_ENV: shared}),  # two runs, two cores
                                stdout=open(tmp_path / f"{home.name}.log", "w"), stderr=subprocess.STDOUT)
               for home in homes]
    try:
        codes = [driver.wait(timeout=170) for driver in drivers]
    finally:
        for driver in drivers:
            kill(driver.pid)
        for home in homes:
            end_runner(home)
    logs = {home.name: (tmp_path / f"{home.name}.log").read_text() for home in homes}
    assert codes == [0, 0], logs

    trials = optuna.load_study(study_name="shared", storage=shared).trials
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials), logs
    points = {(t.params["training.learning_rate"], t.params["lora.r"]) for t in trials}
    assert len(points) == 4  # every grid point, none twice
    owners = {str(home): [t for t in trials if t.user_attrs[OWNER_ATTR].endswith(f":{home}")] for home in homes}
    assert all(owners.values()), "both machines should have run trials"
    for home in homes:  # each machine's runs are the trials it ran, in its own home
        ran = [p for p in (home / "runs").iterdir() if p.is_dir()]
        assert len(ran) == len(owners[str(home)])
        assert {str(p) for p in ran} == {t.user_attrs["run_dir"] for t in owners[str(home)]}

    best = min(trials, key=lambda t: t.value)
    for home in homes:
        monkeypatch.setenv("LORA_STUDIO_HOME", str(home))
        filed = [e.ref for e in Library().entries()]
        assert filed == (["shared/v1"] if best in owners[str(home)] else []), (home.name, logs)
