"""Whether this machine can run a job's settings: checked when they are chosen (the Train page,
``lora-studio train`` before it starts a worker), not when the worker fails on them.

``job_schema.validate`` knows only the job: QLoRA with ``training.device = "cpu"`` is refused
there. With the default ``device = "auto"`` the answer depends on the machine: without an
NVIDIA GPU the run goes to the CPU, where bitsandbytes' 4/8-bit layers and optimizers don't
run, and the worker used to fail at once with a raw error. ``gpus`` is what
``core.gpus.visible_gpus`` finds (the driver's list: no torch needed).
"""

from __future__ import annotations

from collections.abc import Sequence

from studio.core.job_schema import Issue, cuda_only_settings
from studio.core.jobs import TrainJob


def machine_issues(job: TrainJob, gpus: Sequence[object]) -> list[Issue]:
    """What this machine (with ``gpus``) can't run of ``job``, each naming its field."""
    if gpus or job.training.device == "cpu":  # "cpu" jobs are job_schema's to judge
        return []
    if job.training.device == "cuda":
        return [Issue("training.device", "is 'cuda', but no NVIDIA GPU answers on this machine (Settings: System "
                                         "check); choose auto or cpu")]
    return [Issue(name, f"{what} needs an NVIDIA GPU (bitsandbytes) and this machine has none, so the run would "
                        "go to the CPU: choose plain LoRA (no quantization, adamw_torch) or train on a GPU machine")
            for name, what in cuda_only_settings(job)]
