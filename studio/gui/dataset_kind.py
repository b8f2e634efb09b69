"""Can the chosen training stage train the chosen dataset? Asked by the Train page on every edit.

A preference file for SFT, or an SFT file for DPO, is refused whole by the worker (core.datasets.stages);
the page says so the moment either the stage or the dataset is chosen, not only at Start. The format is
read from the file's first rows once per file version (a few milliseconds for a text file); the stage
rule itself is a lookup, so changing the stage costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from studio.core.datasets.job_check import check_file
from studio.core.datasets.stages import STAGE_ROWS, stage_refusal
from studio.core.jobs import DatasetSettings
from studio.core.resources import resolve_dataset_path
from studio.core.rewards.specs import missing_columns


class DatasetKind:
    """The last dataset's format, kept while its file and the way it is read stay the same."""

    def __init__(self, read_bytes: int):
        self.read_bytes = read_bytes  # a .json file up to this size is parsed whole for its first rows
        self._key: tuple | None = None
        self._format: str | None = None
        self._columns: list[str] = []
        self.reads = 0  # how many times a file was read (the cache's test counts them)

    def refusal(self, settings: DatasetSettings, stage: str) -> str:
        """Why ``stage`` can't train the dataset (and what to do), or "" when it can or can't be told yet
        (a Parquet file or a folder: the worker says)."""
        if stage not in STAGE_ROWS:
            return ""  # the job's own check names an unknown stage
        fmt, path = self.format_of(settings)
        refused = stage_refusal(stage, fmt, path) if fmt else None
        return refused.reason if refused is not None else ""

    def format_of(self, settings: DatasetSettings) -> tuple[str | None, Path]:
        """The dataset's format, given or detected from its first rows; None where it can't be told."""
        path = resolve_dataset_path(settings.path)
        if settings.format != "auto":
            return settings.format, path
        try:
            stat = path.stat()
        except (OSError, ValueError):
            return None, path  # a missing file is Start's to say
        key = (str(path), repr(settings.columns), settings.text_split, stat.st_mtime_ns, stat.st_size)
        if key != self._key:
            self.reads += 1
            try:
                check = check_file(settings, quick_bytes=self.read_bytes)[0]
                fmt, columns = check.format, check.columns
            except (OSError, ValueError):  # unreadable now: Start's check says why
                fmt, columns = None, []
            self._key, self._format, self._columns = key, fmt, columns
        return self._format, path

    def missing_reward_columns(self, settings: DatasetSettings, rewards: list) -> list[str]:
        """GRPO: a line per reward that reads a column the file's first rows lack (none where the columns
        can't be told yet)."""
        if settings.format != "auto":  # its rows were not read for the format: Start's check says
            return []
        fmt, _path = self.format_of(settings)
        return missing_columns(rewards, self._columns) if fmt and self._columns else []
