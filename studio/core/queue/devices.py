"""Which devices a queued job needs, which are free, and the slots it is given.

A slot is one GPU (its nvidia-smi index, as text) or ``"cpu"``. A job that names its
GPUs (``distributed.gpus``) needs exactly those; a CPU job (``training.device = cpu``,
or any job on a machine with no GPU) needs the CPU slot; any other needs one GPU, the
runner picks which and shows the worker only that one. So several GPUs run separate
jobs at once, and two CPU jobs never share the cores.

Runs started by hand count too: a live train or eval run that the queue did not start
holds what its job names, else the first GPU (what a worker started without
CUDA_VISIBLE_DEVICES uses) or the CPU.

``LORA_STUDIO_QUEUE_GPUS`` (e.g. ``0,1,2,3``) names the GPUs the queue may use; on a
machine without GPUs it simulates them, which is how the tests run several jobs at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core import gpus, paths, runs

CPU = "cpu"
GPUS_ENV = "LORA_STUDIO_QUEUE_GPUS"
HOLDING_KINDS = ("train", "eval")  # a compare page's model server is not a job the queue waits for


@dataclass(frozen=True)
class Need:
    exact: tuple[str, ...] = ()  # these slots
    any_gpus: int = 0  # or this many GPUs, whichever are free

    def describe(self) -> str:
        if self.exact == (CPU,):
            return "the CPU"
        if self.exact:
            return f"GPU{'s' if len(self.exact) > 1 else ''} {','.join(self.exact)}"
        return "a GPU"


def gpu_slots() -> tuple[str, ...]:
    named = os.environ.get(GPUS_ENV, "").strip()
    if named:
        return tuple(part.strip() for part in named.split(",") if part.strip())
    return tuple(str(g.index) for g in gpus.visible_gpus())


def all_slots() -> tuple[str, ...]:
    return (*gpu_slots(), CPU)


def need_of(job: dict[str, Any], gpu_slots_here: tuple[str, ...] | None = None) -> Need:
    """What ``job`` (its JSON) needs on this machine."""
    here = gpu_slots() if gpu_slots_here is None else gpu_slots_here
    named = [str(i) for i in (job.get("distributed") or {}).get("gpus") or []]
    if named:
        return Need(exact=tuple(named))
    device = str((job.get("training") or {}).get("device", "auto"))
    if device == "cpu" or not here:
        return Need(exact=(CPU,))
    return Need(any_gpus=1)


def choose(need: Need, free: Iterable[str]) -> tuple[str, ...] | None:
    """The slots to give, or None when they are not free now."""
    free = [s for s in free]
    if need.exact:
        return need.exact if all(s in free for s in need.exact) else None
    gpus_free = [s for s in free if s != CPU]
    return tuple(gpus_free[:need.any_gpus]) if len(gpus_free) >= need.any_gpus else None


def worker_environment(need: Need, given: tuple[str, ...]) -> dict[str, str]:
    """The worker sees only the GPU it was given (a job that names its GPUs maps them itself)."""
    if need.exact or not given:
        return {}
    return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": ",".join(given)}


def held_by_other_runs(queued_run_dirs: set[str], root: Path | None = None) -> set[str]:
    """Slots held by live runs the queue did not start (a run started from the Train page)."""
    root = root or paths.runs_dir()
    held: set[str] = set()
    if not root.exists():
        return held
    here = gpu_slots()
    for folder in root.iterdir():
        if not folder.is_dir() or str(folder) in queued_run_dirs or not runs.is_locked(folder):
            continue
        try:
            job = json.loads((folder / runs.JOB_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(job, dict) or job.get("kind", "train") not in HOLDING_KINDS:
            continue
        need = need_of(job, here)
        held.update(need.exact or here[:need.any_gpus])
    return held
