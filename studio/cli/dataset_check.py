"""Refuse a job whose dataset can't be trained, before a run folder exists or a worker starts.

A missing file or a wrong column mapping used to cost a run folder and a worker start
each try; ``core.datasets.job_check`` finds them in milliseconds. Refused the way the
worker would have refused the same file (exit 3, a data error), with the mapping to add
when the columns only have other names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from studio.core import protocol
from studio.core.datasets.columns import ColumnGuess
from studio.core.datasets.job_check import DatasetCheck, check_job_dataset
from studio.core.job_schema import JobError
from studio.core.jobs import DatasetSettings

# Files up to this size are read whole before the worker starts (~0.15 s, measured ~75 ms per MB of
# JSONL; the worker reads them again); a larger one only for its first rows (~2 ms), and the worker
# applies the bad-row rule to the rest.
WHOLE_FILE_BYTES = 2 << 20


def map_hint(guess: ColumnGuess | None, said: str = "") -> str | None:
    """``the columns look like alpaca: add --map instruction=question,output=answer``; None when
    there is no guess, or ``said`` (the error printed) offers the same flag already."""
    if guess is None:
        return None
    flag = f"--map {guess.as_option()}" if guess.mapping else f"--format {guess.format}"
    return None if flag in said else f"the columns look like {guess.format}: add {flag}"


def print_problems(check: DatasetCheck, console: Console) -> None:
    said = str(JobError(check.issues, "the dataset"))
    console.print(f"[red bold]error:[/red bold] {escape(said)}")
    if hint := map_hint(check.guess, said):
        console.print(f"[yellow]{escape(hint)}[/yellow]")


def checked_dataset(settings: DatasetSettings, stage: str = "sft", rewards: Sequence[Any] = ()) -> DatasetCheck:
    """The job's dataset as its ``stage`` would read it: whole when small (its rows then also
    count the steps for the magnitude check), else its first rows; GRPO's reward columns."""
    return check_job_dataset(settings, whole_file_bytes=WHOLE_FILE_BYTES, stage=stage, rewards=rewards)


def dataset_refused(check: DatasetCheck, console: Console) -> int | None:
    """The exit status when the checked dataset can't be trained (after saying why), else None."""
    if check.ok:
        return None
    print_problems(check, console)
    return protocol.EXIT_DATA
