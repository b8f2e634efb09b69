"""A sweep's trials written for a SLURM array: one train job file per trial (and its eval job for an
eval: objective, pointed at the run folder the array script gives the trial), written again without
asking twice, left to --collect until their runs end, and never queued by a driver."""

from __future__ import annotations

import json

from tiny_jobs import tiny_job_dict

from studio.core.queue.store import QueueStore
from studio.core.sweeps.array import (
    array_ranges,
    collect,
    eval_file,
    train_file,
    train_run,
    write_trials,
)
from studio.core.sweeps.driver import SweepDriver
from studio.core.sweeps.spec import load_sweep
from studio.core.sweeps.study import open_study


def _spec(tmp_path, **fields):
    data = {"kind": "sweep", "name": "arr", "sampler": "grid", "base": tiny_job_dict("tiny-model"),
            "space": {"lora.r": [4, 8, 16]}, "pruner": "none", **fields}
    path = tmp_path / "arr.json"
    path.write_text(json.dumps(data))
    return load_sweep(path)


def test_every_grid_point_is_written_once_and_waits_for_its_run(tmp_path):
    spec, folder = _spec(tmp_path), tmp_path / "trials"
    assert write_trials(spec, folder) == [0, 1, 2]
    assert write_trials(spec, folder) == [0, 1, 2]  # again: the same trials, none asked twice
    assert len(open_study(spec).trials) == 3
    ranks = sorted(json.loads(train_file(folder.resolve(), n).read_text())["lora"]["r"] for n in range(3))
    assert ranks == [4, 8, 16] and not eval_file(folder.resolve(), 0).exists()
    got = collect(spec, folder)
    assert got.waiting == [0, 1, 2] and not got.told and not got.failed
    with QueueStore() as store:
        assert SweepDriver(spec).follow(open_study(spec), store) == (0, 0)  # an array's trials: not queued here
        assert store.entries() == []


def test_an_eval_objective_writes_the_eval_job_of_the_trials_adapter(tmp_path):
    spec, folder = _spec(tmp_path, objective="eval:exact_match", eval={"generate_rows": 4}), tmp_path / "trials"
    write_trials(spec, folder)
    scoring = json.loads(eval_file(folder.resolve(), 1).read_text())
    assert scoring["kind"] == "eval" and scoring["generate_rows"] == 4
    assert scoring["adapters"] == [str(train_run(folder.resolve(), 1) / "adapter")]
    assert scoring["model"]["path"] == "tiny-model" and scoring["dataset"]["path"] == "bundled"


def test_array_ranges_are_written_as_sbatch_takes_them():
    assert array_ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
