"""Errors that point at the exact place in a dataset file that is wrong.

A person fixing a 50 000-line JSONL file needs the file, the line and the field,
not a traceback. Every problem the dataset code finds is a `DatasetError`
(fatal) or a `RowIssue` (a row that was skipped), and both name the place the
same way: "line 7" for line-based files (.jsonl, .txt, .csv), "row 3" (0-based
index) for .json arrays, .parquet, .arrow and dataset folders, and a
dotted/indexed field path such as `conversations[2].value`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

RowUnit = Literal["line", "row"]


def location_label(row: int | None, unit: RowUnit) -> str:
    """`"line 7"`, `"row 3"`, or `""` when the problem concerns the whole file."""
    return "" if row is None else f"{unit} {row}"


def type_name(value: Any) -> str:
    """The JSON name of a value's type, as a person writing the file thinks of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class DatasetError(ValueError):
    """A dataset file (or one row of it) cannot be used.

    `file` is the path as given, and the message shows it whole: a person with
    two train.jsonl files must be able to tell which one is meant. `row` is the
    1-based line for .jsonl/.txt/.csv (for .csv the header is line 1) or the
    0-based index for .json arrays, .parquet, .arrow and folders; `unit` says
    which. `row` and `field` are None when the problem concerns the whole file
    or the whole row.
    """

    def __init__(
        self,
        file: str | Path,
        row: int | None,
        field: str | None,
        reason: str,
        *,
        unit: RowUnit = "line",
    ) -> None:
        self.file = str(file)
        self.row = row
        self.field = field
        self.reason = reason
        self.unit: RowUnit = unit
        super().__init__(self._message())

    @property
    def location(self) -> str:
        """`"line 7"`, `"row 3"`, or `""` for a whole-file problem."""
        return location_label(self.row, self.unit)

    def _message(self) -> str:
        parts = [p for p in (self.location, f"field '{self.field}'" if self.field else "") if p]
        where = ", ".join(parts)
        return f"{self.file}: {where}: {self.reason}" if where else f"{self.file}: {self.reason}"

    def __reduce__(self):  # keep the attributes when pickled (e.g. across processes)
        return (_rebuild, (self.file, self.row, self.field, self.reason, self.unit))

    def to_issue(self) -> RowIssue:
        return RowIssue(row=self.location, field=self.field, reason=self.reason)


def _rebuild(file: str, row: int | None, field: str | None, reason: str, unit: RowUnit):
    return DatasetError(file, row, field, reason, unit=unit)


@dataclass(frozen=True)
class RowIssue:
    """One bad row that was reported instead of raised (skipped on load, flagged in preview)."""

    row: str  # "line 7" / "row 3"
    field: str | None
    reason: str

    def __str__(self) -> str:
        parts = [p for p in (self.row, f"field '{self.field}'" if self.field else "") if p]
        return f"{', '.join(parts)}: {self.reason}" if parts else self.reason
