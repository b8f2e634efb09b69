"""Read raw records out of dataset files and folders, each tagged with where it came from.

This layer knows file types, not dataset formats: it turns .json, .jsonl,
.csv, .parquet, .arrow and .txt files, and dataset folders, into `RawRecord`s
(a dict, or a string for .txt) and remembers the line or row of each, so that
a later validation error can point at the place to fix. Problems with the
whole file (not UTF-8, empty, not JSON at all) raise `DatasetError`; problems
with one row (an invalid JSON line, a number where an object belongs) are
attached to that row's record, so a caller may skip it or show it in a preview
instead of failing. With `limit`, only the start of a file is read, except
for a .json document, which is parsed whole.

File types:
  .json     a top-level list of objects, or an object with exactly one list
            field such as {"data": [...]}. Rows are 0-based ("row 3"). A .json
            file that holds JSON Lines (what `Dataset.to_json` writes: its
            first line a whole object, more lines after it) is read as .jsonl.
  .jsonl    one JSON object per line; blank lines are ignored ("line 7", also
            .ndjson).
  .csv      a header row and one record per row, UTF-8 with or without a BOM;
            "line N" is the record number with the header as line 1. Every
            value is a string; a short row simply lacks its trailing fields.
  .parquet  one record per row ("row 3"); .arrow likewise, an Arrow IPC stream
            or file (arrow_files).
  .txt      raw text, one document per line, per blank-line-separated
            paragraph or per file, as `text_split` says (raw_text). "line N"
            is the document's first line.
  folder    a `save_to_disk` folder, a DatasetDict folder or a folder of
            shards (folders says which files); its files are read in order as
            one dataset, with rows numbered across them ("row 1234").
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from . import raw_text
from .arrow_files import read_arrow, read_parquet
from .errors import DatasetError, RowUnit, location_label, type_name
from .folders import folder_files
from .raw_text import TextSplit

SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".parquet", ".arrow", ".txt")
_TABLE_READERS = {".parquet": read_parquet, ".arrow": read_arrow}  # rows are dicts, numbered from 0

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


def read_records(path: str | Path, *, limit: int | None = None, text_split: TextSplit = "auto") -> list[RawRecord]:
    """Read up to `limit` records (all when None) from a dataset file or folder.

    `text_split` says how a .txt file becomes records (see raw_text).
    Raises DatasetError when the file as a whole cannot be read.
    """
    path = Path(path)
    try:
        is_dir = path.is_dir()
        empty = not is_dir and path.stat().st_size == 0
    except FileNotFoundError:
        raise DatasetError(path, None, None, "file not found") from None
    except OSError as e:
        raise DatasetError(path, None, None, f"cannot read the file: {e.strerror}") from None
    if is_dir:
        return _read_folder(path, limit, text_split)
    if path.suffix.lower() not in SUFFIXES:
        raise DatasetError(
            path,
            None,
            None,
            f"unsupported file type '{path.suffix.lower() or path.name}'; "
            "use .json, .jsonl, .csv, .parquet, .arrow or .txt, or a dataset folder",
        )
    if empty:
        raise DatasetError(path, None, None, "file is empty")
    records = _read_file(path, limit, text_split)
    if not records:
        raise DatasetError(path, None, None, "file is empty (no records)")
    return records


def _read_file(path: Path, limit: int | None, text_split: TextSplit) -> list[RawRecord]:
    """The records of one non-empty file of a known type; [] when it holds none."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".txt":
            return _read_txt(path, limit, text_split)
        if suffix in _TABLE_READERS:
            return [_record(path, i, "row", row) for i, row in enumerate(_TABLE_READERS[suffix](path, limit))]
        reader = {".json": _read_json, ".jsonl": _read_jsonl, ".ndjson": _read_jsonl, ".csv": _read_csv}[suffix]
        return reader(path, limit)
    except OSError as e:
        raise DatasetError(path, None, None, f"cannot read the file: {e.strerror or e}") from None


def _read_folder(folder: Path, limit: int | None, text_split: TextSplit) -> list[RawRecord]:
    """The records of a folder's data files in order, as "row N" across them.

    A row that could not be read keeps its file and line in its reason, since
    "row 1234" alone does not say which shard to open.
    """
    records: list[RawRecord] = []
    for file in folder_files(folder).files:
        if limit is not None and len(records) >= limit:
            break
        try:
            empty = file.stat().st_size == 0
        except OSError as e:
            raise DatasetError(file, None, None, f"cannot read the file: {e.strerror}") from None
        if empty:  # an empty shard is no reason to refuse the others
            continue
        remaining = None if limit is None else limit - len(records)
        if file.suffix.lower() in _TABLE_READERS:  # rows straight to records: no relabelling to pay for
            rows = _TABLE_READERS[file.suffix.lower()](file, remaining)
            records.extend([_record(folder, i, "row", row) for i, row in enumerate(rows, start=len(records))])
            continue
        for record in _read_file(file, remaining, text_split):
            row = len(records)
            error = None
            if record.error is not None:
                where = f"{file.relative_to(folder)} {record.label}"
                error = DatasetError(folder, row, None, f"{where}: {record.error.reason}", unit="row")
            records.append(RawRecord(row, "row", record.data, error))
    if not records:
        raise DatasetError(folder, None, None, "the folder's data files hold no records")
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
    if _holds_json_lines(path):
        return _read_jsonl(path, limit)
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


def _holds_json_lines(path: Path) -> bool:
    """Whether a .json file holds JSON Lines: its first line is a whole object and more follows.

    No JSON document looks like that (parsing one would fail with "Extra
    data" after the first line), so real errors in a document are still
    reported as such. Only a file that starts with "{" has its first line read.
    """
    with path.open("rb") as fh:
        if not fh.read(1 << 16).removeprefix(_BOM).lstrip().startswith(b"{"):
            return False
        fh.seek(0)
        first = None
        for raw in fh:
            if not raw.strip():
                continue
            if first is not None:
                return True  # something follows the first line
            try:
                first = json.loads(raw.removeprefix(_BOM).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                return False  # a document spread over lines, or broken: its own reader says how
            if not isinstance(first, dict):
                return False
    return False


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


def _read_txt(path: Path, limit: int | None, text_split: TextSplit) -> list[RawRecord]:
    split = text_split
    if split == "auto":
        with path.open("rb") as fh:
            sample = fh.read(raw_text.AUTO_SAMPLE_BYTES + 1)
        whole = len(sample) <= raw_text.AUTO_SAMPLE_BYTES
        split = raw_text.choose_split(sample[: raw_text.AUTO_SAMPLE_BYTES].removeprefix(_BOM), whole=whole)
    with path.open("rb") as fh:
        return [RawRecord(line, "line", text) for line, text in raw_text.documents(_lines(path, fh), split, limit)]
