"""Refuse, before a worker starts, a job whose numbers are almost certainly a mistake (core.magnitudes):
``-r 100000`` or ``--epochs 1e9``, unless ``--force``. The same rule the Train page holds Start
back with until "Start anyway" is ticked.

The model's config.json gives the layers' widths; the dataset's rows are counted where
``lora-studio train`` reads the file whole anyway (core.datasets.job_check, up to
cli.dataset_check's WHOLE_FILE_BYTES); for a larger file the steps are counted at one an epoch,
the fewest there can be. Whatever can't be read is no verdict: the worker says what is wrong.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from studio.core import magnitudes, protocol
from studio.core.datasets import LoadedDataset
from studio.core.datasets.stages import trained_rows
from studio.core.job_schema import Issue
from studio.core.jobs import TrainJob
from studio.core.models import ModelError, inspect_model, model_source


def unlikely_values(job: TrainJob, loaded: LoadedDataset | None) -> list[Issue]:
    """core.magnitudes' issues with ``job``, with its model's shapes and its dataset's rows where known
    (``loaded``: the whole file as cli.dataset_check read it, None when it was too large to)."""
    return magnitudes.magnitude_issues(job, _model_config(job), rows=_rows(job, loaded))


def magnitudes_refused(job: TrainJob, loaded: LoadedDataset | None, console: Console) -> int | None:
    """The exit status when ``job`` has such values (after saying which and why), else None."""
    issues = unlikely_values(job, loaded)
    if not issues:
        return None
    lines = "\n".join(f"  - {issue}" for issue in issues)
    said = f"this job has {len(issues)} value(s) far past any usual need:\n{lines}"
    console.print(f"[red bold]error:[/red bold] {escape(said)}\n"
                  "[dim]Nothing was started. --force starts it anyway.[/dim]", soft_wrap=True)
    return protocol.EXIT_BAD_JOB


def _model_config(job: TrainJob) -> dict[str, Any] | None:
    try:
        return inspect_model(model_source(job.model.path)).config
    except (ModelError, OSError, ValueError):
        return None


def _rows(job: TrainJob, loaded: LoadedDataset | None) -> int | None:
    if job.training.max_steps > 0 or job.training.packing or loaded is None:
        return None  # the steps don't follow from the rows, or they were not all read
    return len(trained_rows(job.training.stage, loaded.examples))  # KTO trains a pair as two rows
