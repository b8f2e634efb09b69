"""Dataset files -> checked training examples, in pure Python.

Read .json/.jsonl/.csv/.parquet/.txt, detect and validate the format (alpaca,
sharegpt, messages, prompt_completion, text), normalise every row to an
`Example`, and report bad rows by file, line and field. The GUI previews with
it, the CLI validates with it and the engine trains on its output; none of it
imports torch or transformers.
"""

from .errors import DatasetError, RowIssue
from .formats import (
    FORMAT_HELP,
    FORMAT_NAMES,
    Example,
    Message,
    detect_format,
    normalize_record,
    tool_definitions,
)
from .loading import (
    LoadedDataset,
    Preview,
    evaluation_sample,
    file_fingerprint,
    load_dataset_file,
    load_job_dataset,
    preview,
    split_sizes,
    split_train_eval,
    tools_in,
)
from .readers import SUFFIXES, RawRecord, read_records
from .stats import TokenStats, load_tokenizer, render_plain, token_length_stats

__all__ = [
    "FORMAT_HELP",
    "FORMAT_NAMES",
    "SUFFIXES",
    "DatasetError",
    "Example",
    "LoadedDataset",
    "Message",
    "Preview",
    "RawRecord",
    "RowIssue",
    "TokenStats",
    "detect_format",
    "file_fingerprint",
    "load_dataset_file",
    "load_job_dataset",
    "load_tokenizer",
    "normalize_record",
    "preview",
    "read_records",
    "render_plain",
    "split_sizes",
    "evaluation_sample",
    "split_train_eval",
    "tool_definitions",
    "tools_in",
    "token_length_stats",
]
