"""The "tip:" line ``lora-studio train`` prints before a run that would leave the GPU mostly idle.

The same advice as the Train page's (core.batch_advice), for this machine's first NVIDIA GPU
as NVML names it (no torch here). It only reads: the job runs exactly as given. No GPU, a
model without a tokenizer.json, or anything unreadable simply means no tip; the worker
reports real problems itself.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from studio.core import batch_advice, gpus, step_time
from studio.core.datasets import (
    evaluation_sample,
    load_dataset_file,
    token_length_stats,
)
from studio.core.jobs import TrainJob
from studio.core.models import inspect_model, model_source
from studio.core.resources import resolve_dataset_path

# Rows whose token lengths give the mean: spread over the file, so a big one costs ~a second.
MEASURED_ROWS = 2000


def print_batch_tip(job: TrainJob, console: Console) -> None:
    """Print the batch advice for ``job`` as one line, or nothing."""
    found = gpus.visible_gpus()
    if not found or job.training.device == "cpu":
        return
    chosen = job.distributed.gpus[0] if job.distributed.gpus else 0
    gpu = next((g for g in found if g.index == chosen), found[0])
    try:
        advice = _advice(job, gpu)
    except Exception:  # noqa: BLE001 - a tip that can't be worked out is no tip; the run goes on
        return
    if advice is not None:
        console.print(f"[yellow]tip:[/yellow] {escape(advice.sentence())} "
                      f"[dim](--batch-size {advice.batch_size}; nothing was changed)[/dim]", soft_wrap=True)


def _advice(job: TrainJob, gpu: gpus.Gpu) -> batch_advice.BatchAdvice | None:
    if step_time.gpu_rate(gpu.name) is None or job.training.max_steps > 0 or job.training.resume_from:
        return None  # nothing to say: don't read the model and data for it
    model = inspect_model(model_source(job.model.path))
    tokenizer = model.path / "tokenizer.json"
    if not tokenizer.is_file():  # a .gguf until it is converted: lengths unknown
        return None
    examples = load_dataset_file(resolve_dataset_path(job.dataset.path), job.dataset.format, on_error="skip").examples
    # Plain role tags rather than the chat template: a few tokens off per turn, close enough for a tip.
    stats = token_length_stats(evaluation_sample(examples, MEASURED_ROWS), tokenizer, job.training.max_length)
    return batch_advice.advise(job, model.config, gpu_name=gpu.name, capacity_bytes=gpu.total_bytes,
                               rows=len(examples),
                               mean_tokens=step_time.mean_row_tokens(stats.lengths, job.training.max_length),
                               num_parameters=model.num_parameters)
