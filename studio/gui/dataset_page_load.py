"""A dataset file read for the Datasets page under the job's own rules, off the GUI thread.

The page shows what training would do with the file: every bad row listed, and core's
bad-row rule (``rows_verdict``, as ``datasets inspect`` asks it) saying whether training
would skip them or refuse the file. No Qt here: it runs on the thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.core.datasets import (
    DatasetError,
    LoadedDataset,
    RawRecord,
    detect_format,
    load_dataset_file,
    read_records,
)
from studio.core.datasets.columns import apply_columns, unknown_columns
from studio.core.datasets.job_check import rows_verdict
from studio.core.datasets.stages import rows_of, trained_by
from studio.core.jobs import DatasetSettings
from studio.core.stage_names import STAGE_TAGS

SAMPLE_ROWS = 10  # the first rows the column mapping dialog reads again with each choice


@dataclass(frozen=True)
class PageLoad:
    """One file as the page shows it, read under the job's rules."""

    sample: list[RawRecord]  # the first rows as read (no mapping), for the mapping dialog
    columns: list[str]  # a table's column names (first rows' keys, in order); none for a .txt
    dataset: LoadedDataset | None = None  # every usable row, bad ones listed; None when no row is usable
    refusal: str = ""  # why training would refuse the file under the job's bad-row rule ("" when it would not)
    error: str = ""  # why no row can be used (dataset is None)
    rule: tuple[str, float] = ("skip", 0.01)  # (on_bad_rows, bad_rows_limit) it was judged by
    undetected: bool = False  # "auto" could not tell the format from the first rows: a mapping is the fix
    stage_note: str = ""  # which Stage trains the file, when SFT doesn't (preference pairs, labelled replies)


def load_for_page(settings: DatasetSettings, path: Path) -> PageLoad:
    """Read ``path`` as a job with ``settings`` would, listing every bad row, and ask core's bad-row
    rule whether training would refuse it (as ``datasets inspect`` does; runs on the thread pool)."""
    sample = read_records(path, limit=SAMPLE_ROWS, text_split=settings.text_split)
    columns = list(dict.fromkeys(str(key) for r in sample if isinstance(r.data, dict) for key in r.data))
    rule = (settings.on_bad_rows, settings.bad_rows_limit)
    if settings.columns and columns and (missing := unknown_columns(settings.columns, columns)):
        return PageLoad(sample, columns, rule=rule,
                        error=f"{path}: the column mapping names {', '.join(map(repr, missing))}, which the file "
                              f"doesn't have; its columns: {', '.join(columns)}")
    try:
        loaded = load_dataset_file(path, settings.format, on_error="skip", bad_rows_limit=None,
                                   columns=settings.columns, text_split=settings.text_split,
                                   variables=settings.variables)
    except DatasetError as error:
        return PageLoad(sample, columns, error=str(error), rule=rule,
                        undetected=bool(columns) and _format_unknown(settings, sample, path))
    verdict = rows_verdict(settings, loaded) or ""
    if not loaded.examples:
        return PageLoad(sample, columns, error=verdict, rule=rule)
    # Every kind of row has a stage that trains it: the file is chosen, and the Train page checks its
    # Stage box against it (core.datasets.stages); here the page says which stages those are.
    return PageLoad(sample, columns, loaded, refusal=verdict, rule=rule, stage_note=stage_note(loaded.format))


def stage_note(fmt: str) -> str:
    """Which of the Train page's stages trains a file of format ``fmt`` ("" for SFT's own data)."""
    rows = rows_of(fmt)
    if rows == "replies":
        return ""
    stages = ", ".join(STAGE_TAGS[stage] for stage in trained_by(rows))
    kind = ("preference pairs: a prompt with a chosen and a rejected reply" if rows == "pairs" else
            "replies labelled desirable or not")
    return f"This file holds {kind}. Train it with a preference stage: choose {stages} in the Train page's Stage box."


def _format_unknown(settings: DatasetSettings, sample: list[RawRecord], path: Path) -> bool:
    """'auto' can't tell the format from the first rows (mapped): a column mapping is the fix."""
    if settings.format != "auto":
        return False
    try:
        detect_format(apply_columns(sample, settings.columns), file=str(path))
    except DatasetError:
        return True
    return False
