"""Load a dataset file into checked `Example`s, preview one, split one.

These are the calls the GUI, the CLI and the worker make. Loading for a training
stage (``stage``) first refuses a file that stage can't train (``stages``). Loading either
fails on the first bad row (`on_error="raise"`, the default: a training run
should not quietly drop data) or skips bad rows and lists them
(`on_error="skip"`). A preview never fails on a bad row: it shows the row and
what is wrong with it. The fingerprint identifies the exact file bytes a
card.json says an adapter was trained on.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .columns import apply_columns
from .errors import DatasetError, RowIssue
from .folders import folder_files, source_files
from .formats import FORMAT_NAMES, Example, detect_format, normalize_record
from .placeholders import fill_placeholders
from .readers import RawRecord, TextSplit, read_records
from .stages import check_stage, rows_for_stage, stage_refusal

if TYPE_CHECKING:
    from studio.core.jobs import DatasetSettings

OnError = Literal["raise", "skip"]
T = TypeVar("T")


@dataclass
class LoadedDataset:
    path: Path
    format: str
    examples: list[Example]
    issues: list[RowIssue] = field(default_factory=list)  # rows skipped with on_error="skip"
    rows_total: int = 0  # records in the file, good and bad
    fingerprint: str = ""  # sha256 of the file bytes, first 16 hex chars
    warnings: list[str] = field(default_factory=list)  # said before training: unfilled placeholders, ...
    placeholders: list[str] = field(default_factory=list)  # {{names}} in the data, filled or not

    @property
    def rows_skipped(self) -> int:
        return len(self.issues)


@dataclass
class Preview:
    """The first rows of a file as read, as normalised, and what is wrong with them.

    `records[i]` and `sources[i]` describe the same row. A record that is not a
    JSON object shows as {"value": ...} (for an invalid JSON line, its text);
    a .txt paragraph as {"text": ...}. `format` is None when it could not be
    detected; `format_error` then says why.
    """

    path: Path
    format: str | None
    records: list[dict[str, Any]]
    sources: list[str]
    examples: list[Example]
    issues: list[RowIssue]
    format_error: str | None = None


def file_fingerprint(path: str | Path) -> str:
    """sha256 of the dataset's bytes (a folder's data files, in reading order), hex, first 16 characters."""
    digest = hashlib.sha256()
    for file in source_files(path):
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _folder_note(path: Path) -> list[str]:
    """What was chosen in a folder with a choice (its train split), for the user to see."""
    return [note] if path.is_dir() and (note := folder_files(path).note) else []


def _check_format_name(format: str) -> str:
    if format != "auto" and format not in FORMAT_NAMES:
        raise ValueError(
            f"unknown dataset format {format!r}; expected 'auto' or one of {', '.join(FORMAT_NAMES)}"
        )
    return format


def load_dataset_file(
    path: str | Path,
    format: str = "auto",
    *,
    on_error: OnError = "raise",
    bad_rows_limit: float | None = 1.0,
    columns: Mapping[str, str] | None = None,
    text_split: TextSplit = "auto",
    variables: Mapping[str, str] | None = None,
    stage: str | None = None,
) -> LoadedDataset:
    """Read, check and normalise every row of a dataset file.

    format: "auto" (detect from the keys of the first rows) or a format name.
    on_error: "raise" stops at the first bad row with a DatasetError; "skip"
    leaves bad rows out and lists them in `issues`, as long as they are at most
    `bad_rows_limit` of the rows (beyond it the file is refused: that many bad
    rows is a wrong format or mapping, not a few typos). Either way a file that
    cannot be read, or in which no row is usable, raises DatasetError.
    bad_rows_limit None refuses nothing for its rows: `datasets inspect` lists
    them all and asks `bad_rows_refusal` what training would say.
    columns: field -> column renames (core.datasets.columns); variables: values
    for {{placeholders}} (core.datasets.placeholders).
    stage: the training stage the rows are for ("sft", "dpo", "orpo", "simpo", "kto"): a file
    it can't train is refused before its rows are checked, and kto reads pairs as labelled
    rows (core.datasets.stages); None reads any format as it is (preview, inspect).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    _check_format_name(format)
    if stage is not None:
        check_stage(stage)
    path = Path(path)
    records = apply_columns(read_records(path, text_split=text_split), columns or {})
    fingerprint = file_fingerprint(path)
    fmt = detect_format(records, file=str(path)) if format == "auto" else format
    if stage is not None and (refused := stage_refusal(stage, fmt, path)):
        raise refused
    examples: list[Example] = []
    issues: list[RowIssue] = []
    for record in records:
        try:
            examples.append(normalize_record(record, fmt, file=str(path)))
        except DatasetError as e:
            if on_error == "raise":
                raise
            issues.append(e.to_issue())
    if bad_rows_limit is not None and (refused := bad_rows_refusal(path, fmt, issues, len(records),
                                                                   bad_rows_limit)):
        raise refused
    examples, warnings, placeholders = fill_placeholders(examples, variables or {})
    examples, unpaired = rows_for_stage(stage, examples) if stage is not None else (examples, [])
    warnings = _folder_note(path) + warnings + unpaired
    return LoadedDataset(
        path=path,
        format=fmt,
        examples=examples,
        issues=issues,
        rows_total=len(records),
        fingerprint=fingerprint,
        warnings=warnings,
        placeholders=placeholders,
    )


def bad_rows_refusal(path: Path, fmt: str, issues: Sequence[RowIssue], rows_total: int,
                     bad_rows_limit: float) -> DatasetError | None:
    """Why a file with these bad rows is refused, or None when they may be skipped: the one rule."""
    if issues and len(issues) >= rows_total:
        return DatasetError(
            path,
            None,
            None,
            f"none of the {rows_total} rows can be used as '{fmt}'; first problem: {issues[0]}",
        )
    if len(issues) > bad_rows_limit * rows_total:
        shown = "; ".join(str(issue) for issue in issues[:3])
        return DatasetError(
            path,
            None,
            None,
            f"{len(issues)} of {rows_total} rows can't be used as '{fmt}' ({len(issues) / rows_total:.1%}, "
            f"more than the {bad_rows_limit:.0%} that may be skipped): {shown}"
            + (" …" if len(issues) > 3 else "")
            + "; fix those rows, choose the right format or column mapping, or raise dataset.bad_rows_limit",
        )
    return None


def load_job_dataset(settings: DatasetSettings, path: str | Path | None = None, *,
                     stage: str = "sft") -> LoadedDataset:
    """The dataset of a job, read the way its settings say (one rule for training, evaluation,
    the CLI and the GUI). ``path``: the resolved file, when ``settings.path`` names a bundled one.
    ``stage``: the job's training stage; a file it can't train is refused with what to do (an SFT
    job given preference pairs, a DPO job given SFT rows), and kto reads pairs as labelled rows."""
    skip = settings.on_bad_rows == "skip"
    return load_dataset_file(
        path or settings.path,
        settings.format,
        on_error="skip" if skip else "raise",
        bad_rows_limit=settings.bad_rows_limit if skip else 0.0,
        columns=settings.columns,
        text_split=settings.text_split,
        variables=settings.variables,
        stage=stage,
    )


def _as_dict(record: RawRecord) -> dict[str, Any]:
    if isinstance(record.data, dict):
        return record.data
    if isinstance(record.data, str) and record.error is None:
        return {"text": record.data}
    return {"value": record.data}


def preview(path: str | Path, n: int = 20, format: str = "auto", *, columns: Mapping[str, str] | None = None,
            text_split: TextSplit = "auto") -> Preview:
    """The first `n` rows of a file, normalised where possible, without failing on a bad row.

    Raises DatasetError only when the file as a whole cannot be read.
    """
    _check_format_name(format)
    path = Path(path)
    # Read at least one row even for n == 0, so an unreadable file still raises.
    records = read_records(path, limit=max(n, 1), text_split=text_split)[: max(n, 0)]
    records = apply_columns(records, columns or {})
    fmt: str | None = format if format != "auto" else None
    format_error = None
    if fmt is None and records:
        try:
            fmt = detect_format(records, file=str(path))
        except DatasetError as e:
            format_error = e.reason
    examples: list[Example] = []
    issues: list[RowIssue] = []
    for record in records:
        if fmt is None:
            if record.error is not None:
                issues.append(record.error.to_issue())
            continue
        try:
            examples.append(normalize_record(record, fmt, file=str(path)))
        except DatasetError as e:
            issues.append(e.to_issue())
    return Preview(
        path=path,
        format=fmt,
        records=[_as_dict(r) for r in records],
        sources=[r.label for r in records],
        examples=examples,
        issues=issues,
        format_error=format_error,
    )


def tools_in(path: str | Path, format: str = "auto", *, columns: Mapping[str, str] | None = None,
             rows: int = 50) -> tuple[dict[str, Any], ...]:
    """The tool definitions of a file's first ``rows`` rows, each tool once (by name, first
    seen wins): what to ask a tool-use adapter with, as it was trained."""
    found: dict[str, dict[str, Any]] = {}
    for example in preview(path, rows, format, columns=columns).examples:
        for tool in example.tools:
            found.setdefault(str(tool.get("function", {}).get("name")), tool)
    return tuple(found.values())


def split_sizes(n: int, eval_fraction: float) -> tuple[int, int]:
    """(train, eval) row counts of ``split_train_eval`` without doing the split."""
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    if eval_fraction == 0.0 or n < 2:
        return n, 0
    n_eval = min(n - 1, max(1, round(n * eval_fraction)))
    return n - n_eval, n_eval


def evaluation_sample(rows: Sequence[T], limit: int) -> list[T]:
    """At most ``limit`` rows (0 = all), spread evenly over ``rows`` so a sorted or grouped
    file is still represented: what the eval loss is measured on."""
    if limit <= 0 or len(rows) <= limit:
        return list(rows)
    return [rows[i * len(rows) // limit] for i in range(limit)]


def split_train_eval(
    examples: Sequence[T], eval_fraction: float, seed: int
) -> tuple[list[T], list[T]]:
    """Split into (train, eval), the same way every time for the same seed.

    Both keep the original order. With eval_fraction > 0 and at least two
    examples, eval holds at least one and train at least one.
    """
    n = len(examples)
    n_eval = split_sizes(n, eval_fraction)[1]
    if n_eval == 0:
        return list(examples), []
    order = list(range(n))
    random.Random(seed).shuffle(order)
    held_out = set(order[:n_eval])
    train = [e for i, e in enumerate(examples) if i not in held_out]
    evals = [e for i, e in enumerate(examples) if i in held_out]
    return train, evals
