"""How many optimizer steps a job takes, on one process or several."""

from __future__ import annotations

from studio.core.job_schema import job_from_dict
from studio.engine.training import total_steps


def test_an_epoch_is_shared_between_processes():
    job = job_from_dict({"kind": "train", "training": {"batch_size": 4, "grad_accum": 2, "epochs": 1}})
    assert total_steps(64, job) == 8 and total_steps(64, job, processes=2) == 4
