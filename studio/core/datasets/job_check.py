"""Can a job's dataset be trained on? Asked before a run folder exists or a worker starts.

A missing file, a format that can't be told from the columns or a mapped column the file
lacks used to surface only inside the worker, as one more failed run per try.
This check finds them in milliseconds, each as an Issue naming the field to change. It
reads the first rows of a file; the whole file, under the job's bad-row rule
(`load_job_dataset`), only when the file is small, because the worker reads it all again
(a 200 MB JSONL takes ~7 s to check): for a larger one the worker applies the rule.
"""

from __future__ import annotations

import difflib
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.job_schema import Issue
from studio.core.jobs import DatasetSettings
from studio.core.resources import resolve_dataset_path
from studio.core.rewards.specs import missing_columns

from .columns import FORMAT_FIELDS, ColumnGuess, apply_columns, guess_columns, unknown_columns
from .errors import DatasetError
from .folders import source_files
from .formats import detect_format, normalize_record
from .loading import LoadedDataset, bad_rows_refusal, load_job_dataset
from .readers import SUFFIXES, RawRecord, read_records
from .refusals import every_row_refused, format_hint
from .stages import stage_refusal

HEAD_ROWS = 200  # rows read from a large file: enough to detect its format and catch a wrong mapping
# A .json file is parsed whole even for its first rows (~2 ms per MB): above this it is left to the worker.
JSON_HEAD_BYTES = 32 << 20
_TEXT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".txt")  # read without pyarrow
_STOP = "dataset.on_bad_rows is 'stop': fix that row, or set it to 'skip'"
_TYPES = ", ".join(SUFFIXES[:-1]) + " or " + SUFFIXES[-1]


@dataclass
class DatasetCheck:
    """What the check found. ``issues`` empty: the job may start."""

    path: Path
    issues: list[Issue] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the columns of the first rows, in file order
    format: str | None = None  # given, or detected from the first rows
    guess: ColumnGuess | None = None  # a mapping to offer when the format could not be told
    loaded: LoadedDataset | None = None  # the whole file as training reads it, when it was small enough
    size: int = 0  # bytes

    @property
    def ok(self) -> bool:
        return not self.issues


def check_job_dataset(settings: DatasetSettings, *, whole_file_bytes: int, quick: bool = False,
                      stage: str = "sft", rewards: Sequence[Any] = ()) -> DatasetCheck:
    """Check the dataset a job names: the file, its first rows, and (up to ``whole_file_bytes``)
    every row under the job's bad-row rule, for the job's training ``stage`` (a preference file
    for an SFT job, or an SFT file for a DPO job, is refused as `load_job_dataset` refuses it), and
    for GRPO the columns its ``rewards`` (grpo.rewards tables) read.

    quick: only what takes milliseconds, for a click on the GUI thread: the first rows of
    text files (.jsonl, .csv, .txt, a .json up to ``whole_file_bytes``); Parquet, Arrow
    and folders (pyarrow takes ~0.4 s to import) and larger .json files are left to the worker."""
    check, records = check_file(settings, quick_bytes=whole_file_bytes if quick else None, stage=stage)
    if check.ok and stage == "grpo" and check.columns:  # a reward reading a column the prompts lack
        check.issues += [Issue("grpo.rewards", problem) for problem in missing_columns(rewards, check.columns)]
    if not check.ok or not _head_rows_fit(settings, records, check):
        return check
    if records and check.size <= whole_file_bytes:  # no rows read (quick): nor the whole file
        try:
            check.loaded = load_job_dataset(settings, check.path, stage=stage)
        except DatasetError as exc:
            check.issues.append(Issue("", str(exc)))
        except OSError as exc:  # gone or locked since its first rows were read
            check.issues.append(Issue("dataset.path", f"is {check.path}, which can't be read "
                                                      f"({exc.strerror or exc})"))
    return check


def check_file(settings: DatasetSettings, quick_bytes: int | None = None, *,
               stage: str | None = None) -> tuple[DatasetCheck, list[RawRecord]]:
    """The file, its mapped columns and its format, from its first rows (and those rows,
    after the mapping); no row is judged yet. ``quick_bytes``: read only the first rows of
    text files, and of a .json file up to this size (check_job_dataset's quick). ``stage``:
    refuse a format that training stage can't train; None: any format (``datasets inspect``)."""
    path = resolve_dataset_path(settings.path)
    check = DatasetCheck(path)
    size = _file_problem(path, check)
    if size is None:
        return check, []
    check.size = size
    suffix = "" if path.is_dir() else path.suffix.lower()
    if suffix == ".json" and size > (JSON_HEAD_BYTES if quick_bytes is None else quick_bytes):
        return check, []
    if quick_bytes is not None and suffix not in _TEXT_SUFFIXES:
        return check, []
    try:
        records = read_records(path, limit=HEAD_ROWS, text_split=settings.text_split)
    except DatasetError as exc:
        check.issues.append(Issue("", str(exc)))
        return check, []
    check.columns = _columns(records)
    rows = _mapped(settings, records, check)
    if rows and settings.format == "auto":
        try:
            check.format = detect_format(rows, file=str(path))
        except DatasetError as exc:
            check.issues.append(Issue("dataset.format", f"can't be told: {exc}"))
            # Only keys that fit no format call for a mapping; a row refused as it is (images…) is not fixed by one.
            check.guess = guess_columns(check.columns) if check.columns and exc.row is None else None
            return check, []
    elif settings.format != "auto":
        check.format = settings.format
    if stage is not None and check.format is not None and (refused := stage_refusal(stage, check.format, path)):
        check.issues.append(Issue("", str(refused)))
        return check, []
    return check, rows


def rows_verdict(settings: DatasetSettings, loaded: LoadedDataset) -> str | None:
    """Why training would refuse a file loaded with every bad row listed (``bad_rows_limit=None``),
    or None when it trains, skipping them."""
    if not loaded.issues:
        return None
    if settings.on_bad_rows == "stop":
        return f"{loaded.path.name}: {loaded.issues[0]} ({_STOP})"
    refused = bad_rows_refusal(loaded.path, loaded.format, loaded.issues, loaded.rows_total, settings.bad_rows_limit)
    return None if refused is None else str(refused)


def _file_problem(path: Path, check: DatasetCheck) -> int | None:
    """The file's size, or None after adding why it can't be read at all."""
    where = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        check.issues.append(Issue("dataset.path", f"is {where}, which does not exist; check the path, or give "
                                                  "the file's full path"))
        return None
    except OSError as exc:
        check.issues.append(Issue("dataset.path", f"is {where}, which can't be reached ({exc.strerror or exc}); "
                                                  "check the path and its folders' permissions"))
        return None
    if stat.S_ISDIR(info.st_mode):  # a dataset folder (save_to_disk, shards): its data files' bytes
        try:
            return sum(file.stat().st_size for file in source_files(path))
        except DatasetError as exc:
            check.issues.append(Issue("dataset.path", f"is the folder {where}, which can't be read as a dataset: "
                                                      f"{exc.reason}"))
        except OSError as exc:
            check.issues.append(Issue("dataset.path", f"is the folder {where}, whose files can't be read "
                                                      f"({exc.strerror or exc}); check their permissions"))
        return None
    if not stat.S_ISREG(info.st_mode):  # a device or a pipe: reading it would hang or never end
        check.issues.append(Issue("dataset.path", f"is {where}, which is not a regular file; name a {_TYPES} "
                                                  "file or a dataset folder"))
        return None
    if path.suffix.lower() not in SUFFIXES:
        check.issues.append(Issue("dataset.path", f"is {where}: a '{path.suffix or path.name}' file can't be read; "
                                                  f"use a {_TYPES} file (convert it, or rename it if it is one) "
                                                  "or a dataset folder"))
        return None
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        check.issues.append(Issue("dataset.path", f"is {where}, which can't be read ({exc.strerror or exc}); "
                                                  "check its permissions"))
        return None
    return info.st_size


def _columns(records: list[RawRecord]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        if isinstance(record.data, dict) and record.error is None:
            seen.update(dict.fromkeys(map(str, record.data)))
    return list(seen)


def _mapped(settings: DatasetSettings, records: list[RawRecord], check: DatasetCheck) -> list[RawRecord]:
    """The records with the job's columns renamed; [] after adding a problem with the mapping."""
    if not settings.columns:
        return records
    name = check.path.name
    known = list(dict.fromkeys(f for fields in FORMAT_FIELDS.values() for f in fields))
    if strange := [f for f in settings.columns if f not in known]:
        close = difflib.get_close_matches(strange[0], known, n=1)
        check.issues.append(Issue("dataset.columns", f"maps {', '.join(map(repr, strange))}, which no format reads"
                                                     + (f" (did you mean {close[0]!r}?)" if close else "")
                                                     + f"; the fields: {', '.join(known)}"))
        return []
    if not check.columns:
        check.issues.append(Issue("dataset.columns", f"maps columns, but {name} has none (plain text); "
                                                     "leave dataset.columns empty"))
        return []
    if missing := unknown_columns(settings.columns, check.columns):
        check.issues.append(Issue("dataset.columns", f"names {', '.join(map(repr, missing))}, which {name} "
                                                     f"doesn't have; its columns: {', '.join(check.columns)}"))
        return []
    return apply_columns(records, settings.columns)


def _head_rows_fit(settings: DatasetSettings, rows: list[RawRecord], check: DatasetCheck) -> bool:
    """The first rows under the format; False after adding a problem training would have too."""
    if not rows or check.format is None:
        return True  # a large .json: the worker reads it
    problems = []
    for row in rows:
        try:
            normalize_record(row, check.format, file=str(check.path))
        except DatasetError as exc:
            problems.append(exc)
    if problems and settings.on_bad_rows == "stop":  # exactly what training does at the first bad row
        check.issues.append(Issue("", f"{problems[0]} ({_STOP})"))
        return False
    if problems and len(problems) == len(rows):
        # Every one of the first rows bad is a wrong format or mapping, not a few typos.
        first = "first " if len(rows) >= HEAD_ROWS else ""  # fewer: the whole file
        check.guess = format_hint(check.columns, check.format, rows)
        check.issues.append(Issue("", f"{check.path.name}: none of the {first}{len(rows)} rows can be used as "
                                      f"'{check.format}'; first problem: {problems[0].to_issue()}"
                                      + ("" if every_row_refused(rows) else "; choose the right format or column mapping")))
        return False
    return True
