"""Small shared pieces for engine tests: a job on the tiny model, an event recorder."""

from __future__ import annotations

from pathlib import Path

from studio.core import protocol
from studio.core.job_schema import job_from_dict
from studio.core.jobs import TrainJob


def tiny_job(model_dir: Path, **sections) -> TrainJob:
    data = {
        "model": {"path": str(model_dir)},
        "dataset": {"path": "bundled", "max_rows": 48, "eval_fraction": 0.125},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "training": {"max_steps": 12, "batch_size": 4, "learning_rate": 1e-2, "max_length": 96,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant", "device": "cpu"},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return job_from_dict(data)


class Recorder:
    def __init__(self) -> None:
        self.events: list[protocol.Event] = []

    def __call__(self, event: protocol.Event) -> None:
        protocol.decode(protocol.encode(event))  # every event must survive the wire
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def losses(self) -> list[float]:
        return [e.loss for e in self.of(protocol.Step)]
