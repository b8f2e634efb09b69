"""Dataset files -> checked training examples, in pure Python.

Read .json/.jsonl/.csv/.parquet/.txt, detect and validate the format (alpaca,
sharegpt, messages, prompt_completion, text; preference pairs and KTO's labelled
replies), normalise every row to an `Example`, and report bad rows by file, line
and field. Which training stage takes which rows is `stages`' rule. The GUI previews with
it, the CLI validates with it and the engine trains on its output; none of it
imports torch or transformers.
"""

from .errors import DatasetError, RowIssue
from .formats import (
    FORMAT_HELP,
    FORMAT_NAMES,
    LABELLED_FORMATS,
    PAIR_FORMATS,
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
from .preference import sequences
from .readers import SUFFIXES, RawRecord, read_records
from .stages import STAGE_ROWS, stage_refusal
from .stats import TokenStats, load_tokenizer, render_plain, token_length_stats

__all__ = [
    "FORMAT_HELP",
    "FORMAT_NAMES",
    "LABELLED_FORMATS",
    "PAIR_FORMATS",
    "STAGE_ROWS",
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
    "sequences",
    "stage_refusal",
    "split_sizes",
    "evaluation_sample",
    "split_train_eval",
    "tool_definitions",
    "tools_in",
    "token_length_stats",
]
