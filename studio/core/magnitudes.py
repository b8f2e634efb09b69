"""Magnitudes that are almost certainly a mistake: said when chosen, started only when overridden.

``-r 100000`` tried to allocate ~120 GB, and ``--epochs 1e9`` planned 1.47e11 steps with an
ETA of 7,350 years (issue 22). Neither can be refused outright the way job_schema refuses what
can never run: a rank above a layer's width or a million steps may be someone's rare real need.
So, like core.memory_fit's "will not fit", each is said with its reason, the Train page holds
Start back until "Start anyway" is ticked, and ``lora-studio train`` refuses unless ``--force``.
Both ask this module; it needs only the job, the model's config.json and, where known, the
dataset's row count (no torch).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from studio.core import launch_plan, methods, step_time
from studio.core.datasets import split_sizes
from studio.core.job_schema import Issue
from studio.core.jobs import LoraSettings, TrainJob
from studio.core.presets import linear_shapes, resolve_target_modules

# Optimizer steps past any LoRA fine-tune (hundreds to tens of thousands are typical): a million
# is 11.6 days of steps even at one a second.
MAX_STEPS = 1_000_000


def magnitude_issues(job: TrainJob, config: dict[str, Any] | None = None, *, rows: int | None = None) -> list[Issue]:
    """What in ``job`` is far past any usual need, each naming its field and why. ``config``: the
    model's config.json (the layers' widths); ``rows``: the dataset's rows, where known (else the
    steps are counted as one an epoch, the fewest any dataset gives)."""
    return _rank_issues(job, config) + _step_issues(job, rows)


def narrowest_layer(job: TrainJob, config: dict[str, Any]) -> tuple[str, int, int] | None:
    """(name, in, out) of the narrowest layer the job adapts whose update the rank exceeds: where
    a rank above min(in, out) only adds trainable parameters (an update of that layer can't have
    a higher rank). None when there is none, or the shapes or the method can't tell."""
    lora = job.lora
    if lora.continue_from or "r" not in methods.tuner(lora.tuner).uses:
        return None  # a continued adapter keeps its own rank
    shapes = linear_shapes(config)
    if shapes is None:
        return None
    modules = resolve_target_modules(config, lora.target_modules)
    names = list(shapes) if modules == ["all-linear"] else [m for m in modules if m in shapes]
    wasted = []
    for name in names:
        fan_in, fan_out = shapes[name]
        width = min(fan_in, fan_out)
        if lora.r > width and _grows_past_the_layer(lora, fan_in, fan_out):
            wasted.append((width, name, fan_in, fan_out))
    if not wasted:
        return None
    _width, name, fan_in, fan_out = min(wasted)
    return name, fan_in, fan_out


def optimizer_steps(job: TrainJob, rows: int | None) -> float:
    """The run's optimizer steps, as engine.training.total_steps counts them: ``max_steps``, else the
    epochs over the training rows (after ``max_rows`` and the eval split) at batch x accumulation x
    processes a step. ``rows`` None, or packed rows (fewer sequences than rows): one step an epoch,
    the fewest there can be. A float: 1e300 epochs is a number, not an error."""
    tr = job.training
    if tr.max_steps > 0:
        return float(tr.max_steps)
    per_epoch = 1
    train_rows = _train_rows(job, rows)
    if train_rows is not None and not tr.packing:
        per_epoch = step_time.optimizer_steps(train_rows, tr.batch_size, tr.grad_accum, 1, _processes(job))
    steps = per_epoch * tr.epochs
    return max(1.0, float(math.ceil(steps)) if math.isfinite(steps) else steps)


def _rank_issues(job: TrainJob, config: dict[str, Any] | None) -> list[Issue]:
    if config is None or job.lora.r <= 0:
        return []
    try:
        found = narrowest_layer(job, config)
    except (KeyError, TypeError, ValueError):  # an unknown tuner is job_schema's to report
        return []
    if found is None:
        return []
    name, fan_in, fan_out = found
    width = min(fan_in, fan_out)
    return [Issue("lora.r", f"is {job.lora.r:,}, above the width of {name} ({fan_in} in, {fan_out} out), the "
                            f"narrowest layer it adapts: an update of that layer can't have a rank above {width}, "
                            f"so the rest only adds memory and time; 8 or 16 is typical, {width} at most")]


def _step_issues(job: TrainJob, rows: int | None) -> list[Issue]:
    tr = job.training
    if tr.batch_size <= 0 or tr.grad_accum <= 0 or (tr.max_steps == 0 and tr.epochs <= 0):
        return []  # job_schema's to report
    steps = optimizer_steps(job, rows)
    if steps <= MAX_STEPS:
        return []
    why = (f"over {MAX_STEPS:,}, past any LoRA fine-tune (hundreds to tens of thousands are typical) and "
           f"{MAX_STEPS / 86_400:.1f} days of steps even at one a second")
    if tr.max_steps > 0:
        return [Issue("training.max_steps", f"is {_count(steps)} optimizer steps, {why}; 0 trains by epochs")]
    train_rows = _train_rows(job, rows)
    if train_rows is None or tr.packing:
        return [Issue("training.epochs", f"is {tr.epochs:g}: at least {_count(steps)} optimizer steps (one an "
                                         f"epoch, the fewest any dataset gives), {why}; 1 to 3 epochs is typical")]
    batch = tr.batch_size * tr.grad_accum * _processes(job)
    return [Issue("training.epochs", f"is {tr.epochs:g}: {_count(steps)} optimizer steps over {train_rows:,} "
                                     f"training rows at {batch:,} rows a step, {why}; 1 to 3 epochs is typical")]


def _train_rows(job: TrainJob, rows: int | None) -> int | None:
    if rows is None or rows <= 0:
        return None
    used = min(rows, job.dataset.max_rows or rows)
    try:
        return split_sizes(used, job.dataset.eval_fraction)[0]
    except ValueError:  # an eval fraction job_schema refuses
        return None


def _processes(job: TrainJob) -> int:
    try:
        return launch_plan.plan(job).world_size
    except ValueError:  # a malformed rendezvous address: job_schema's and the launcher's to say
        return 1


def _grows_past_the_layer(lora: LoraSettings, fan_in: int, fan_out: int) -> bool:
    """Whether the method's trainable parameters (its own count, core.methods) keep growing with r
    past the layer's size: LoRA's, LoHa's, VeRA's and AdaLoRA's do; OFT's block and LoKr's factor
    stop at the layer's size (peft caps them there), so a large r costs them nothing."""
    def count(r: int) -> int:
        return methods.trainable_per_layer(dataclasses.replace(lora, r=r), fan_in, fan_out)

    size = max(fan_in, fan_out)
    return count(2 * size) > count(size)


def _count(steps: float) -> str:
    return f"{steps:,.0f}" if steps < 1e12 else f"{steps:.3g}"
