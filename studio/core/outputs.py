"""What a finished job hands back: the ``done`` event's outputs, as typed records.

The worker writes them, and the GUI, the CLI and the run history read them back,
some from runs an older version made: each is a :class:`~studio.core.records.Record`,
so its keys are named here once. ``TrainMetrics`` is also the card's ``metrics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.core.records import Record


@dataclass
class TrainMetrics(Record):
    """A training run's numbers (absent ones: not measured in that run)."""

    train_loss: float | None = None  # the last step's loss
    mean_train_loss: float | None = None  # the Trainer's mean over the run
    eval_loss: float | None = None
    perplexity: float | None = None
    steps: int | None = None
    train_tokens: int | None = None  # tokens in the prepared training rows
    tokens_trained: int | None = None  # real (unpadded) tokens the run trained on
    tokens_per_s: float | None = None  # the run's real average, not the last step's rate
    train_seconds: float | None = None  # training wall time, pauses taken out
    trainable_parameters: int | None = None
    total_parameters: int | None = None
    skipped_steps: list[int] | None = None  # the steps skipped for a non-finite loss (training.on_nan)
    graphed_steps: int | None = None  # steps replayed from CUDA graphs
    peak_memory_bytes: int | None = None  # this process's GPU peak, CUDA context included
    peak_memory_reserved_bytes: int | None = None  # the allocator's peak alone
    gpu_total_bytes: int | None = None
    estimated_peak_bytes: int | None = None  # core.vram's estimate for the same job
    estimate_error: float | None = None  # (estimate - measured) / measured
    processes: int | None = None  # several under torchrun
    strategy: str | None = None  # "ddp" or "fsdp" under torchrun
    # A preference stage's last rewards/* and logps/* (protocol.Step's), and eval_rewards/* etc. on the held-out pairs
    preference: dict[str, float] | None = None


@dataclass
class TrainOutputs(Record):
    """A train job's ``done`` outputs."""

    adapter_path: str | None = None  # <run>/adapter
    base_model_path: str | None = None  # the Hugging Face folder the base loaded from
    name: str | None = None  # the adapter's name (its library name)
    metrics: TrainMetrics = field(default_factory=TrainMetrics)
    stopped: bool = False  # stopped early (and saved)
    library_ref: str | None = None  # "name/vN" when added to the library
    merged_path: str | None = None  # output.save_merged: the merged model's folder


@dataclass
class MergeOutputs(Record):
    """A merge job's ``done`` outputs: the new library version."""

    adapter_path: str | None = None
    library_ref: str | None = None
    rank: int | None = None


@dataclass
class ExportOutputs(Record):
    """An export job's ``done`` outputs: the merged full model, checked by reloading it."""

    output_dir: str | None = None
    adapter: str | None = None  # the library ref or folder exported
    shards: list[str] = field(default_factory=list)
    max_logit_difference: float | None = None  # reloaded vs base + adapter
    tolerance: float | None = None
    dtype: str | None = None
    gguf: list[dict[str, Any]] | None = None  # each GGUF written, with its check


RECORDS: dict[str, type[Record]] = {"train": TrainOutputs, "merge": MergeOutputs, "export": ExportOutputs}


def outputs_for(kind: str, data: Mapping[str, Any], source: str = "") -> Record | None:
    """A ``done`` event's outputs as the record of its job's kind (None for kinds without one)."""
    record = RECORDS.get(kind)
    return record.from_dict(data, source) if record is not None else None
