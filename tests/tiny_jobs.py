"""The one tiny training job the tests share: the tiny model (tests/tiny_model.py) or the
bundled one, 48 rows of the bundled sample, rank 8, a high learning rate so a few steps show
the loss dropping, on the CPU. Tests change only what they are about (``sections``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_job_dict(model_dir: Path | str, steps: int = 12, **sections: dict[str, Any]) -> dict[str, Any]:
    """The job as the CLI, the GUI and job.json carry it; ``steps``: its max_steps (long for tests
    that pause, stop or watch a run, short for tests that train to the end)."""
    job: dict[str, Any] = {
        "model": {"path": str(model_dir)},
        "dataset": {"path": "bundled", "max_rows": 48, "eval_fraction": 0.125},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "training": {"max_steps": steps, "batch_size": 4, "learning_rate": 1e-2, "max_length": 96,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant", "device": "cpu"},
    }
    for section, values in sections.items():
        job.setdefault(section, {}).update(values)
    return job


def tiny_job(model_dir: Path | str, steps: int = 12, **sections: dict[str, Any]):
    """The same, as a TrainJob."""
    from studio.core.job_schema import job_from_dict

    return job_from_dict(tiny_job_dict(model_dir, steps, **sections))
