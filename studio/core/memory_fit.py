"""Will the job fit where it will run? One rule for the Train page and ``lora-studio train``.

The memory estimate (core.vram) against what the run will have: the card's memory for a run
on an NVIDIA GPU, this machine's available RAM for a run on the CPU. A job that will not fit
is said before it starts, with the numbers and what to change; the Train page blocks Start
unless "Start anyway" is ticked, the CLI refuses unless ``--force`` is given.

On a GPU the estimate is the one the Train page's memory panel and ``lora-studio estimate``
show: the peak of the largest batch, batch x max length tokens (measured on an H100 to
within a few per cent). On the CPU the run is fp32 (precision auto), has no CUDA context, and
its largest batch is batch x the longest row when the dataset's token lengths are known (rows
are padded to the longest in their batch, not to the max length; packed batches are full):
a CPU run has far less room than a card, and the worst case would refuse jobs that run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from studio.core import launch_plan, vram, vram_advice, vram_band
from studio.core.jobs import TrainJob

MAX_FIXES = 3
# Changes bitsandbytes makes: none of them runs on the CPU.
_GPU_ONLY_FIELDS = frozenset({"model.quantization", "training.optimizer"})
_CPU_PARTS = frozenset({"context", "graphs", "allocator"})  # the CUDA context and caching allocator's


@dataclass(frozen=True)
class Target:
    """Where the run will be and how much memory it has there."""
    kind: Literal["gpu", "cpu"]
    capacity: int  # bytes: the card's memory, or the RAM available now
    name: str  # "the NVIDIA H200", "the 8 GiB (RTX 4060) card", "this machine's RAM"
    total: int = 0  # the CPU's: all of the machine's RAM (the message says both)


@dataclass(frozen=True)
class Fix:
    """A change that makes the job fit (within vram.fits' margin)."""
    label: str
    edits: dict[str, Any]  # dotted job field -> value
    needed: int  # bytes, with this change


@dataclass(frozen=True)
class MemoryFit:
    target: Target
    needed: int  # bytes at the run's peak
    tokens: int  # batch x length of the largest batch the estimate counts
    fits: bool  # vram.fits: within the share of the target a run may plan to fill
    budget: int = 0  # that share, in bytes
    fixes: tuple[Fix, ...] = ()
    advice: vram_advice.Advice | None = None  # when no change fits: why, and where it would
    accuracy: str = ""  # a GPU estimate's measured band in words (core.vram_band)

    @property
    def blocks(self) -> bool:
        """Start is held back (until overridden): over the card's memory, or over all of the
        machine's RAM. Past the margin but within the card (``fits`` is False), a run is warned
        about only, as one over the RAM available now: the CPU estimate errs high (6.3 GiB for the
        bundled default job at every row's max length, 2.6 GiB measured on 1,000 alpaca rows) and
        other programs' memory comes and goes."""
        if self.fits:
            return False
        return self.needed > (self.target.capacity if self.target.kind == "gpu"
                              else self.target.total or self.target.capacity)

    def problem(self) -> str:
        """What to say of a job that will not fit: the numbers, then what to change, or that no
        change makes it fit and where it would."""
        target = self.target
        band = f"; {self.accuracy}" if self.accuracy else ""
        if target.kind == "gpu":
            said = (f"{'Will not fit' if self.blocks else 'May not fit'}: this job needs about "
                    f"{vram.format_bytes(self.needed)} of GPU memory at its peak ({self.tokens:,} tokens a step{band}), "
                    f"and {target.name} has {vram.format_bytes(target.capacity)}")
        else:
            of_total = f" of {vram.format_bytes(target.total)}" if target.total else ""
            said = (f"{'Will not fit' if self.blocks else 'May not fit'}: training on the CPU needs about "
                    f"{vram.format_bytes(self.needed)} of RAM at its largest batch ({self.tokens:,} tokens{band}), "
                    f"and this machine has {vram.format_bytes(target.capacity)} available{of_total}")
        if self.needed <= target.capacity:  # within it, past the margin
            said += f", of which {vram.format_bytes(self.budget)} is safe to plan for"
        said += "."
        if self.advice is not None and self.advice.nothing_fits:
            where = f"one {target.name.removeprefix('the ')}" if target.kind == "gpu" else target.name
            return " ".join([said, *self.advice.lines(where)])
        fixes = [f"{fix.label} → {vram.format_bytes(fix.needed)}" for fix in self.fixes]
        general = "a smaller batch size, a shorter max length or gradient checkpointing" + (
            ", or QLoRA (4-bit)" if target.kind == "gpu" else "")
        return said + (f" Try: {'; '.join(fixes)}." if fixes else f" Try {general}.")


def runs_on_gpu(job: TrainJob, gpus: Sequence[object]) -> bool:
    """Whether the worker will train on an NVIDIA GPU (engine.hardware.choose: ``auto`` takes one
    where there is one)."""
    return job.training.device == "cuda" or (job.training.device == "auto" and bool(gpus))


def available_ram() -> tuple[int, int]:
    """(available, total) bytes of this machine's RAM now."""
    import psutil

    memory = psutil.virtual_memory()
    return int(memory.available), int(memory.total)


def target_for(job: TrainJob, gpus: Sequence[Any], card: tuple[int, str] | None = None) -> Target:
    """Where ``job`` will train on this machine (``gpus``: core.gpus.visible_gpus()). ``card``:
    (bytes, name) of the card to hold a GPU run against (the Train page's chosen one); else the
    GPU the job names, or the first."""
    if runs_on_gpu(job, gpus):
        if card is not None:
            return Target("gpu", int(card[0]), card[1])
        chosen = job.distributed.gpus[0] if job.distributed.gpus else None
        gpu = next((g for g in gpus if getattr(g, "index", None) == chosen), gpus[0] if gpus else None)
        if gpu is None:
            raise ValueError("a GPU run needs a card to hold it against")
        return Target("gpu", int(gpu.total_bytes), f"the {gpu.name}")
    available, total = available_ram()
    return Target("cpu", available, "this machine's RAM", total)


def check(job: TrainJob, config: dict[str, Any], target: Target, *, num_parameters: int | None = None,
          longest_row: int | None = None, graphs: bool = False) -> MemoryFit:
    """The job's peak memory against ``target``, with the changes that would make it fit.

    ``longest_row``: the dataset's longest row in tokens, where known (a CPU run's largest batch);
    ``graphs``: a GPU run's steps will be CUDA graphs (core.step_time.graphs_expected), as the
    memory panel counts them. Raises vram.EstimateError where no estimate can be made."""
    if target.kind == "gpu":
        estimate, options = launch_plan.per_gpu_estimate(job, config, num_parameters, target.capacity, graphs=graphs)
        tokens = job.training.batch_size * job.training.max_length
        advice = vram_advice.advise(job, config, target.capacity, limit=MAX_FIXES, **options)
        return _verdict(target, estimate.total, tokens, vram.fits(estimate.total, job, target.capacity),
                        vram.budget_bytes(job, target.capacity), advice, lambda s: s.estimate.total,
                        vram_band.accuracy(config))
    cpu_job = _as_on_the_cpu(job, longest_row)
    copies = max(1, job.distributed.cpu_processes)  # each process holds the whole model and its batch
    needed = _cpu_bytes(vram.estimate(cpu_job, config, num_parameters=num_parameters)) * copies
    room = target.capacity // copies
    advice = vram_advice.advise(cpu_job, config, room, gpu=False, limit=MAX_FIXES, measure=_cpu_bytes,
                                keep=_GPU_ONLY_FIELDS, num_parameters=num_parameters)
    tokens = cpu_job.training.batch_size * cpu_job.training.max_length
    return _verdict(target, needed, tokens, vram.fits(needed, cpu_job, target.capacity),
                    vram.budget_bytes(cpu_job, target.capacity), advice, lambda s: _cpu_bytes(s.estimate) * copies, "")


def _verdict(target: Target, needed: int, tokens: int, fits: bool, budget: int, advice: vram_advice.Advice,
             size: Callable[[vram.Suggestion], int], accuracy: str) -> MemoryFit:
    if fits:
        return MemoryFit(target, needed, tokens, True, budget, accuracy=accuracy)
    fixes = tuple(Fix(s.label, dict(s.edits), size(s)) for s in advice.suggestions)
    return MemoryFit(target, needed, tokens, False, budget, fixes, advice, accuracy)


def _as_on_the_cpu(job: TrainJob, longest_row: int | None) -> TrainJob:
    tr = job.training
    length = tr.max_length if tr.packing or not longest_row else max(1, min(tr.max_length, longest_row))
    precision = "fp32" if tr.precision == "auto" else tr.precision  # engine.hardware.choose
    return dataclasses.replace(job, training=dataclasses.replace(tr, precision=precision, max_length=length))


def _cpu_bytes(estimate: vram.Estimate) -> int:
    return sum(part.bytes for part in estimate.parts if part.key not in _CPU_PARTS)
