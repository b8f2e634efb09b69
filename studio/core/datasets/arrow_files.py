"""Read the rows of Arrow-backed files (.parquet, .arrow) with pyarrow.

pyarrow is imported here, lazily: it is slow to import and only these files
need it. An .arrow file is either an Arrow IPC stream (what
`Dataset.save_to_disk` writes) or an IPC file (it starts with "ARROW1"); both
are read batch by batch, so `limit` rows cost a batch or two, not the file,
and each batch is validated before it is converted: pyarrow trusts IPC data,
and a damaged copy could otherwise crash the process (the GUI's, for a
preview). The `datasets` library is not needed to read what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import DatasetError

_IPC_FILE_MAGIC = b"ARROW1"


def read_parquet(path: Path, limit: int | None) -> list[Any]:
    """The rows of a Parquet file as dicts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        if limit is None:
            return pf.read().to_pylist()
        return _take(pf.iter_batches(batch_size=max(limit, 1)), limit)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:  # damaged text is not UTF-8
        raise DatasetError(path, None, None, f"not a readable Parquet file: {e}") from None


def read_arrow(path: Path, limit: int | None) -> list[Any]:
    """The rows of an Arrow IPC stream or file as dicts."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            if source.read(len(_IPC_FILE_MAGIC)) == _IPC_FILE_MAGIC:
                source.seek(0)
                reader = pa.ipc.open_file(source)
                batches: Iterable[Any] = (reader.get_batch(i) for i in range(reader.num_record_batches))
            else:
                source.seek(0)
                batches = pa.ipc.open_stream(source)
            return _take(batches, limit, validate=True)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:  # damaged text is not UTF-8
        raise DatasetError(
            path, None, None, f"not a readable Arrow file (IPC stream or file): {e}"
        ) from None


def _take(batches: Iterable[Any], limit: int | None, *, validate: bool = False) -> list[Any]:
    rows: list[Any] = []
    for batch in batches:
        if limit is not None and len(rows) >= limit:
            break
        if limit is not None:
            batch = batch.slice(0, limit - len(rows))
        if validate:
            # IPC data is not checked as it is read: a damaged or cut-off copy can point its
            # offsets outside the buffers, and converting it would crash the process.
            batch.validate(full=True)
        rows.extend(batch.to_pylist())
    return rows
