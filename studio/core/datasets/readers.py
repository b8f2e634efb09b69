"""Read raw records out of dataset files, each tagged with where it came from.

This layer knows file types, not dataset formats: it turns .json, .jsonl,
.csv, .parquet and .txt into `RawRecord`s (a dict, or a string for .txt) and
remembers the line or row of each, so that a later validation error can point
at the place to fix. Problems with the whole file (not UTF-8, empty, not JSON
at all) raise `DatasetError`; problems with one row (an invalid JSON line, a
number where an object belongs) are attached to that row's record, so a caller
may skip it or show it in a preview instead of failing.

File types:
  .json     a top-level list of objects, or an object with exactly one list
            field such as {"data": [...]}. Rows are 0-based ("row 3").
  .jsonl    one JSON object per line; blank lines are ignored ("line 7", also
            .ndjson).
  .csv      a header row and one record per row, UTF-8 with or without a BOM;
            "line N" is the record number with the header as line 1. Every
            value is a string; a short row simply lacks its trailing fields.
  .parquet  one record per row, read with pyarrow ("row 3").
  .txt      raw text, one example per paragraph: paragraphs are separated by
            one or more blank (or whitespace-only) lines, and a paragraph's own
            line breaks are kept. "line N" is the paragraph's first line.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from .errors import DatasetError, RowUnit, location_label, type_name

SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".parquet", ".txt")

_BOM = b"\xef\xbb\xbf"

# The csv module refuses fields over 128 KiB by default; a long document in a
# "text" column is normal for fine-tuning data. Raising the limit only widens it.
csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))


@dataclass(frozen=True)
class RawRecord:
    """One record as read from the file, before any format is applied.

    `data` is a dict (a str for .txt). When the row could not be read as a
    record, `error` says why and `data` holds what was there (the line's text,
    or the non-object value).
    """

    row: int
    unit: RowUnit
    data: Any
    error: DatasetError | None = None

    @property
    def label(self) -> str:
        return location_label(self.row, self.unit)


TextSplit = Literal["auto", "line", "paragraph", "file"]


def read_records(path: str | Path, *, limit: int | None = None, text_split: TextSplit = "auto") -> list[RawRecord]:
    """Read up to `limit` records (all when None) from a dataset file.

    `text_split` says how a .txt file becomes records (see the module docstring).
    Raises DatasetError when the file as a whole cannot be read.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DatasetError(
            path,
            None,
            None,
            f"unsupported file type '{suffix or path.name}'; use .json, .jsonl, .csv, .parquet or .txt",
        )
    try:
        empty = path.stat().st_size == 0
    except FileNotFoundError:
        raise DatasetError(path, None, None, "file not found") from None
    except OSError as e:
        raise DatasetError(path, None, None, f"cannot read the file: {e.strerror}") from None
    if path.is_dir():
        raise DatasetError(path, None, None, "this is a folder, not a file")
    if empty:
        raise DatasetError(path, None, None, "file is empty")

    reader = {
        ".json": _read_json,
        ".jsonl": _read_jsonl,
        ".ndjson": _read_jsonl,
        ".csv": _read_csv,
        ".parquet": _read_parquet,
        ".txt": _read_txt,
    }[suffix]
    try:
        records = reader(path, limit)
    except OSError as e:
        raise DatasetError(path, None, None, f"cannot read the file: {e.strerror or e}") from None
    if not records:
        raise DatasetError(path, None, None, "file is empty (no records)")
    return records


def _not_utf8(path: Path, line: int, data: bytes, offset: int) -> DatasetError:
    return DatasetError(
        path,
        line,
        None,
        f"not valid UTF-8 (byte 0x{data[offset]:02x}); re-save the file as UTF-8",
    )


def _lines(path: Path, fh: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line with its line ending), decoding strictly.

    Splitting the bytes on b"\\n" before decoding is safe for UTF-8 and keeps
    U+2028 and friends, which JSON allows inside strings, from splitting a line.
    """
    for number, raw in enumerate(fh, start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _not_utf8(path, number, raw, e.start) from None


def _read_json(path: Path, limit: int | None) -> list[RawRecord]:
    data = path.read_bytes()
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, data[: e.start].count(b"\n") + 1, data, e.start) from None
    if not text.strip():
        raise DatasetError(path, None, None, "file is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetError(
            path, e.lineno, None, f"invalid JSON: {e.msg} (column {e.colno})"
        ) from None
    items = _top_level_list(path, doc)
    if limit is not None:
        items = items[:limit]
    return [_record(path, i, "row", item) for i, item in enumerate(items)]


def _top_level_list(path: Path, doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise DatasetError(
            path, None, None, f"expected a list of objects at the top level, got {type_name(doc)}"
        )
    lists = [key for key, value in doc.items() if isinstance(value, list)]
    if len(lists) == 1 and lists[0] in ("conversations", "messages"):
        raise DatasetError(
            path,
            None,
            None,
            f"the file holds a single conversation ('{lists[0]}'), not a list of records; "
            "wrap it in [ ... ] or use .jsonl",
        )
    if len(lists) != 1:
        found = ", ".join(f"'{k}'" for k in lists) if lists else "none"
        raise DatasetError(
            path,
            None,
            None,
            "expected a list of objects, or an object with exactly one list field "
            f'such as {{"data": [...]}}; list fields found: {found}',
        )
    return doc[lists[0]]


def _record(path: Path, row: int, unit: RowUnit, value: Any) -> RawRecord:
    if isinstance(value, dict):
        return RawRecord(row, unit, value)
    error = DatasetError(path, row, None, f"expected an object, got {type_name(value)}", unit=unit)
    return RawRecord(row, unit, value, error)


def _read_jsonl(path: Path, limit: int | None) -> list[RawRecord]:
    records: list[RawRecord] = []
    with path.open("rb") as fh:
        for number, line in _lines(path, fh):
            if limit is not None and len(records) >= limit:
                break
            if not line.strip():
                continue
            try:
                value = json.loads(line.rstrip("\r\n"))  # keeps the error's column exact
            except json.JSONDecodeError as e:
                error = DatasetError(
                    path, number, None, f"invalid JSON: {e.msg} (column {e.colno})"
                )
                records.append(RawRecord(number, "line", line.rstrip("\r\n"), error))
                continue
            records.append(_record(path, number, "line", value))
    return records


def _read_csv(path: Path, limit: int | None) -> list[RawRecord]:
    records: list[RawRecord] = []
    with path.open("rb") as fh:
        reader = csv.reader(line for _, line in _lines(path, fh))
        try:
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise DatasetError(path, None, None, "file is empty (no header row)")
            header = [h.strip() for h in header]
            dupes = sorted({h for h in header if h and header.count(h) > 1})
            if dupes:
                raise DatasetError(path, 1, None, f"duplicate column names: {', '.join(dupes)}")
            for number, cells in enumerate(reader, start=2):
                if limit is not None and len(records) >= limit:
                    break
                if not any(c.strip() for c in cells):
                    continue
                # A short row simply lacks its trailing fields; a long one is an error.
                values = dict(zip(header, cells, strict=False))
                error = None
                if len(cells) > len(header):
                    error = DatasetError(
                        path,
                        number,
                        None,
                        f"row has {len(cells)} values but the header has {len(header)} columns "
                        "(an unquoted comma?)",
                    )
                records.append(RawRecord(number, "line", values, error))
        except csv.Error as e:
            raise DatasetError(path, reader.line_num or None, None, f"CSV error: {e}") from None
    if not records:
        raise DatasetError(path, None, None, "the file has a header but no data rows")
    return records


def _read_parquet(path: Path, limit: int | None) -> list[RawRecord]:
    import pyarrow as pa  # lazily: only parquet needs it, and it is slow to import
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        if limit is None:
            rows = pf.read().to_pylist()
        else:
            rows = []
            for batch in pf.iter_batches(batch_size=max(limit, 1)):
                rows.extend(batch.to_pylist())
                if len(rows) >= limit:
                    break
            rows = rows[:limit]
    except (pa.ArrowException, OSError) as e:
        raise DatasetError(path, None, None, f"not a readable Parquet file: {e}") from None
    return [_record(path, i, "row", row) for i, row in enumerate(rows)]


def _read_txt(path: Path, limit: int | None) -> list[RawRecord]:
    records: list[RawRecord] = []
    paragraph: list[str] = []
    start = 0
    with path.open("rb") as fh:
        for number, line in _lines(path, fh):
            if line.strip():
                if not paragraph:
                    start = number
                paragraph.append(line.rstrip("\r\n"))
                continue
            if paragraph:
                records.append(RawRecord(start, "line", "\n".join(paragraph)))
                paragraph = []
                if limit is not None and len(records) >= limit:
                    return records
    if paragraph:
        records.append(RawRecord(start, "line", "\n".join(paragraph)))
    return records
