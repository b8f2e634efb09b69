"""Leave out of a train worker the packages its job will not use, before the engine loads.

Why: a job's start (the process up to loading the model) is more than half of a short job
on the GPU machine, and most of it is imports. peft imports bitsandbytes whenever it is
installed (2.6 s there) and transformers imports scikit-learn for assisted generation
(1.4 s) (``python -X importtime``, docs/benchmarks.md), though a LoRA job without
quantization or 8-bit optimizers uses neither.

A module set to None in ``sys.modules`` is what ``importlib.util.find_spec`` reports as
missing, which is how peft and transformers ask, and importing it raises at once: a job
that needs it after all fails loudly, never silently without it.
"""

from __future__ import annotations

import sys

from studio.core.jobs import TrainJob

ASSISTED_GENERATION_ONLY = "sklearn"  # transformers' candidate generator; training never generates with it
QUANTIZATION_ONLY = "bitsandbytes"  # 4/8-bit weights and 8-bit optimizers


def unused_by(job: TrainJob) -> list[str]:
    unused = [ASSISTED_GENERATION_ONLY]
    if job.model.quantization == "none" and "8bit" not in job.training.optimizer:
        unused.append(QUANTIZATION_ONLY)
    return unused


def leave_out(job: TrainJob) -> list[str]:
    """Mark the packages ``job`` will not use as missing (those not imported yet); their names."""
    names = [name for name in unused_by(job) if name not in sys.modules]
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]
    return names
