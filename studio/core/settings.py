"""The user's settings: ``<home>/settings.json``, the one place the GUI and the CLI keep them.

A model folder added on the Models page is then one ``lora-studio models`` lists too.
Every key is a field of :class:`Settings`, with its help beside it. Reading never
fails: a missing file is the defaults, a corrupt one is the defaults with a warning
(the file is replaced on the next change), and keys of a newer version are kept.
Each change is a read-modify-write under a lock, so the GUI and a CLI command
changing different settings at once both keep theirs. (Window geometry is the
window's business and stays in Qt's own settings.)
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from studio.core import atomic, paths
from studio.core.hang_watch import DEFAULT_TIMEOUT_S
from studio.core.records import Record, RecordWarning, field_types

Theme = Literal["system", "light", "dark"]


@dataclass
class Settings(Record):
    VERSION_KEY = "settings_version"

    model_folders: list[str] = field(default_factory=list, metadata={
        "help": "Model folders and .gguf files added on the Models page or with `lora-studio models --add`; "
                "both list the models in them."})
    vram_card: str = field(default="", metadata={
        "help": "The GPU the Train page's memory estimate compares with, as its card list names it "
                "(empty: this machine's GPU, else a 24 GiB card)."})
    theme: Theme = field(default="system", metadata={"help": "Light or dark colours, or follow the system."})
    ui_scale: float = field(default=1.0, metadata={
        "help": "Size of text and controls, on top of the system's (1.0 = as the system sets it; 2.0 = twice); "
                "applies at the next start. QT_SCALE_FACTOR, where set, wins."})
    first_run_done: bool = field(default=False, metadata={
        "help": "The first-run guide was shown (Settings shows it again)."})
    hang_timeout_s: float = field(default=DEFAULT_TIMEOUT_S, metadata={
        "help": "Warn that a worker may be hung after this many seconds without progress (0 = never)."})
    last_model: str = field(default="", metadata={"help": "The model last chosen on the Models page (its id)."})
    dataset_path: str = field(default="bundled", metadata={"help": "The dataset last chosen on the Datasets page."})
    dataset_format: str = field(default="auto", metadata={"help": "That dataset's format ('auto': detected)."})
    last_job: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "The Train page's form as it was left, restored on the next start."})
    tuned_for_model: str = field(default="", metadata={
        "help": "The model the Train page's preset was applied for (the same model keeps the user's edits)."})

    def model_paths(self) -> list[Path]:
        return [Path(folder) for folder in self.model_folders]


UI_SCALES = (1.0, 1.25, 1.5, 1.75, 2.0)


def help_of(name: str) -> str:
    return str(next(f for f in dataclasses.fields(Settings) if f.name == name).metadata.get("help", ""))


def load(file: Path | None = None) -> Settings:
    """The settings in ``file`` (default ``<home>/settings.json``); never raises."""
    path = file or paths.settings_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        warnings.warn(f"{path}: cannot be read ({exc}); using the default settings", RecordWarning, stacklevel=2)
        return Settings()
    try:
        data = json.loads(text)
    except ValueError as exc:
        warnings.warn(f"{path} is not valid JSON ({exc}); using the default settings until one is changed",
                      RecordWarning, stacklevel=2)
        return Settings()
    return Settings.from_dict(data, str(path))


def edit(change: Callable[[Settings], Settings], file: Path | None = None) -> Settings:
    """Apply ``change`` to the settings the file holds now (another process may have changed
    some since this one read them), under a lock, and write them; returns the new settings."""
    file = file or paths.settings_file()
    with atomic.locked(file.with_name(f".{file.name}.lock")):
        settings = change(load(file))
        atomic.write_json(file, settings.to_dict())
    return settings


def update(file: Path | None = None, **changes: Any) -> Settings:
    """Set some settings, keeping the others as the file has them."""
    unknown = set(changes) - set(field_types(Settings))
    if unknown:
        raise TypeError(f"not a setting: {', '.join(sorted(unknown))}")
    return edit(lambda settings: dataclasses.replace(settings, **changes), file)


def add_model_folder(folder: str | Path, file: Path | None = None) -> Settings:
    """Remember a model folder or .gguf file (by its absolute path, once)."""
    added = str(paths.user_path(folder).absolute())
    return edit(lambda s: s if added in s.model_folders else
                dataclasses.replace(s, model_folders=[*s.model_folders, added]), file)


def remove_model_folder(folder: str | Path, file: Path | None = None) -> Settings:
    return edit(lambda s: dataclasses.replace(s, model_folders=[f for f in s.model_folders if f != str(folder)]),
                file)
