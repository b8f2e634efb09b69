"""Whether this machine can run a job's settings: one rule, asked when they are chosen (the
Train page, whose Method and Optimizer boxes disable what it refuses), by ``lora-studio
train`` before it starts a worker, and by the worker itself before it loads anything.

``job_schema.validate`` knows only the job: QLoRA with ``training.device = "cpu"`` is refused
there. With the default ``device = "auto"`` the answer depends on the machine: without an
NVIDIA GPU the run goes to the CPU, where bitsandbytes' 4/8-bit layers and optimizers don't
run, and the worker used to fail at once with a raw error; with one, they still need
bitsandbytes installed (the ``gpu`` extra) and a card of compute capability 7.0 (Volta) or newer
where the capability is known: an installed bitsandbytes on an older card was offered and failed
in the worker. ``gpus`` is what ``core.gpus.visible_gpus`` finds (the driver's list: no torch
needed; NVML tells the capability); the worker passes the GPUs torch sees (dicts from
``engine.hardware.devices``, with their capability). A tracker named in ``training.report_to``
must be installed too, where the job is chosen; the worker runs without it and warns instead.

Whether a run's memory fits is core.memory_fit's.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import get_args

from studio.core import gpus as nvml
from studio.core import trackers
from studio.core.job_schema import Issue, JobError, cuda_only_settings
from studio.core.jobs import Device, Optimizer, TrainJob

# What a worker's error says to do about it (not "check model.path": issue 21).
MACHINE_HINT = ("choose a method without quantization (LoRA, DoRA, ...) and the adamw_torch optimizer, or train on "
                "a machine with an NVIDIA GPU and bitsandbytes; `lora-studio doctor` says what this one has")
_NO_GPU = "this machine has none, so the run would go to the CPU"
# bitsandbytes' 4/8-bit kernels and 8-bit optimizers: Volta or newer (the doctor warns below it too).
MIN_BITSANDBYTES_CAPABILITY = (7, 0)


class MachineError(JobError):
    """A job this machine can't run (``machine_issues``), with the fix as its ``hint``."""

    hint = MACHINE_HINT

    def __init__(self, issues: list[Issue]):
        super().__init__(issues, "this job, on this machine,")
        if all(issue.field == "training.compile" for issue in issues):
            self.hint = "set Compile to auto (it compiles where that pays) or off"
        elif all(issue.field == "training.report_to" for issue in issues):
            self.hint = f"{trackers.INSTALL_HINT}, or leave the tracker out of training.report_to (--report-to)"


@lru_cache(maxsize=1)
def bitsandbytes_installed() -> bool:
    """Whether bitsandbytes can be imported here (looked up, not imported: that takes seconds)."""
    try:
        return importlib.util.find_spec("bitsandbytes") is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class GpuFacts:
    """What the bitsandbytes rule needs of one GPU: its number, name and compute capability
    ("8.6"; None where nothing could tell)."""

    index: int | None
    name: str
    capability: str | None


def gpu_facts(card: object) -> GpuFacts:
    """A worker's device dict carries its capability; a ``core.gpus.Gpu`` is asked of NVML."""
    if isinstance(card, GpuFacts):
        return card
    if isinstance(card, Mapping):
        capability = card.get("capability")
        return GpuFacts(card.get("index"), str(card.get("name", "GPU")), str(capability) if capability else None)
    index = getattr(card, "index", None)
    return GpuFacts(index, str(getattr(card, "name", card)),
                    _nvml_capability(index) if isinstance(index, int) else None)


@lru_cache(maxsize=16)
def _nvml_capability(index: int) -> str | None:
    """Cached: the Train page asks for every choice of its boxes at each change."""
    return nvml.compute_capability(index)


def bitsandbytes_refusal(card: GpuFacts) -> str | None:
    """Why bitsandbytes can't run on ``card`` (a sentence naming it and its capability), or None:
    also where the capability is unknown, which is the worker's to find out."""
    if card.capability is None:
        return None
    try:
        major, minor = (int(part) for part in card.capability.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) >= MIN_BITSANDBYTES_CAPABILITY:
        return None
    where = f"GPU {card.index} ({card.name})" if card.index is not None else card.name
    return (f"{where} has compute capability {card.capability}, and bitsandbytes needs "
            f"{'.'.join(map(str, MIN_BITSANDBYTES_CAPABILITY))} (Volta) or newer")


def machine_issues(job: TrainJob, gpus: Sequence[object], *, bitsandbytes: bool | None = None,
                   trackers_wanted: bool = True) -> list[Issue]:
    """What this machine (with ``gpus``) can't run of ``job``, each naming its field.
    ``bitsandbytes``: whether it is installed (default: look). ``trackers_wanted``: a tracker
    named in training.report_to that is not installed is refused too (when it is chosen); the
    worker passes False, since it runs without it and warns (the run is never lost to a tracker)."""
    found = _compile_issues(job, gpus) + _bitsandbytes_issues(job, gpus, bitsandbytes)
    if trackers_wanted:
        found += [Issue("training.report_to", trackers.not_installed_message(name))
                  for name in trackers.missing(job.training.report_to)]
    return found


def _compile_issues(job: TrainJob, gpus: Sequence[object]) -> list[Issue]:
    """The worker compiles on CUDA only: "on" elsewhere would train uncompiled without a word."""
    if job.training.compile != "on" or job.training.device == "cpu" or gpus:  # "cpu" jobs: job_schema's
        return []
    return [Issue("training.compile", f"'on' compiles on an NVIDIA GPU only and {_NO_GPU}: choose auto or off")]


def _bitsandbytes_issues(job: TrainJob, gpus: Sequence[object], bitsandbytes: bool | None) -> list[Issue]:
    if job.training.device == "cpu":  # "cpu" jobs are job_schema's to judge
        return []
    if not gpus:
        if job.training.device == "cuda":
            return [Issue("training.device", "is 'cuda', but no NVIDIA GPU answers on this machine (Settings: System "
                                             "check); choose auto or cpu")]
        return [Issue(name, f"{what} needs an NVIDIA GPU (bitsandbytes) and {_NO_GPU}: choose plain LoRA "
                            "(no quantization, adamw_torch) or train on a GPU machine")
                for name, what in cuda_only_settings(job)]
    for card in _cards_in_use(job, gpus):
        if why := bitsandbytes_refusal(gpu_facts(card)):
            return [Issue(name, f"{what} needs bitsandbytes on an NVIDIA GPU: {why}; choose plain LoRA (no "
                                "quantization, adamw_torch) or train on a newer GPU")
                    for name, what in cuda_only_settings(job)]
    if bitsandbytes is None:
        bitsandbytes = bitsandbytes_installed()
    if bitsandbytes:
        return []
    return [Issue(name, f"{what} needs bitsandbytes, which is not installed here: pip install 'lora-studio[gpu]' "
                        "(or choose plain LoRA: no quantization, adamw_torch)")
            for name, what in cuda_only_settings(job)]


def _cards_in_use(job: TrainJob, gpus: Sequence[object]) -> list[object]:
    """The GPUs the run trains on. The worker's list is already those (its CUDA_VISIBLE_DEVICES holds
    the chosen ones); the driver's list is narrowed to ``distributed.gpus``, or the first card."""
    if any(isinstance(card, Mapping) for card in gpus):
        return list(gpus)
    chosen = job.distributed.gpus
    if not chosen:
        return list(gpus[:1])
    return [card for card in gpus if getattr(card, "index", None) in chosen]


def refused_choices(device: Device, gpus: Sequence[object], *,
                    bitsandbytes: bool | None = None) -> dict[str, dict[str, str]]:
    """Dotted field -> {value: why} of the quantization, optimizer and compile choices this machine can't
    run with ``training.device = device`` (``machine_issues`` of a job with each): the Train page
    disables them in its boxes, with the reason as their tooltip."""
    choices = {"model.quantization": ("8bit", "4bit"), "training.optimizer": get_args(Optimizer),
               "training.compile": ("on",)}
    refused: dict[str, dict[str, str]] = {}
    for dotted, values in choices.items():
        section, name = dotted.split(".")
        for value in values:
            job = TrainJob()
            job.training.device = device
            setattr(getattr(job, section), name, value)
            why = [i.message for i in machine_issues(job, gpus, bitsandbytes=bitsandbytes) if i.field == dotted]
            if why:
                refused.setdefault(dotted, {})[value] = why[0]
    return refused
