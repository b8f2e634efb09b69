"""Which files of a dataset folder hold its rows, in which order.

People get data as folders as often as files: `Dataset.save_to_disk` writes
data-0000x-of-0000N.arrow shards beside state.json, `DatasetDict.save_to_disk`
one such folder per split beside dataset_dict.json, and a Hub download is
shards such as data/train-00000-of-00003.parquet. This module only chooses the
files (the readers read them) and says what it chose when there was a choice:

  save_to_disk folder   the .arrow files state.json lists, in its order.
  DatasetDict folder    the "train" split, or the only split.
  any other folder      the data files in it and up to two folder levels below
                        (data/, data/train/, default/train/), of one type:
                        .parquet, else .arrow, else .jsonl/.ndjson, else .json,
                        else .csv. Files whose name or folder names a split
                        (train-0000.parquet, json-test.arrow, valid/...) belong
                        to it, as the Hub names them: the "train" split is
                        read, or the only one named; with no split named, all.
                        Shards are read in natural order (2 before 10).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError

# Preferred first: a Hub download often holds the same rows twice (the
# uploaded .jsonl and the Hub's own .parquet conversion).
SHARD_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".ndjson", ".json", ".csv")
_METADATA = {"dataset_info.json", "dataset_infos.json", "state.json", "dataset_dict.json"}
_SPLITS = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test", "eval": "test", "evaluation": "test",
}  # the names the Hub's split patterns know, as the split they stand for
_SPLIT_IN_NAME = re.compile(r"(?:^|[-._ 0-9])(" + "|".join(_SPLITS) + r")(?=[-._ 0-9]|$)", re.IGNORECASE)

EXPECTED = (
    "a folder must be a Hugging Face save_to_disk folder (state.json and data-*.arrow), "
    "a DatasetDict folder (dataset_dict.json), or hold .parquet, .arrow, .jsonl, .json or .csv "
    "files (in it, or in data/ or another folder up to two levels down)"
)


@dataclass(frozen=True)
class FolderData:
    """The files to read as one dataset, and a sentence for the user when a choice was made."""

    files: tuple[Path, ...]
    note: str = ""  # e.g. "read the 'train' split; the folder also holds 'test'"


def source_files(path: str | Path) -> list[Path]:
    """The files whose bytes are the dataset at `path`: the file itself, or a folder's data files."""
    path = Path(path)
    return list(folder_files(path).files) if path.is_dir() else [path]


def folder_files(folder: Path) -> FolderData:
    """The data files of a dataset folder. Raises DatasetError saying what a folder must hold."""
    if (folder / "dataset_dict.json").is_file():
        return _dataset_dict(folder)
    if (folder / "state.json").is_file():
        return FolderData(_saved_shards(folder))
    return _shards(folder)


def _dataset_dict(folder: Path) -> FolderData:
    try:
        splits = json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
        if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):  # damaged: the split folders tell the same
        splits = sorted(p.name for p in folder.iterdir() if (p / "state.json").is_file())
    if not splits:
        raise DatasetError(folder, None, None, "dataset_dict.json lists no splits; save the dataset again")
    if "train" in splits:
        chosen = "train"
    elif len(splits) == 1:
        chosen = splits[0]
    else:
        raise DatasetError(
            folder, None, None,
            f"the DatasetDict holds the splits {_names(splits)} and none is 'train'; "
            f"give the folder of the one to use, e.g. {folder / splits[0]}",
        )
    others = [s for s in splits if s != chosen]
    note = f"read the '{chosen}' split" + (f"; the folder also holds {_names(others)}" if others else "")
    return FolderData(_saved_shards(folder / chosen), note)


def _saved_shards(folder: Path) -> tuple[Path, ...]:
    """The .arrow files of one save_to_disk folder, in state.json's order."""
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError):
        names = []  # damaged or from another version: the shards' names give the order
    if not names:
        files = sorted(folder.glob("*.arrow"), key=_natural)
        if not files:
            raise DatasetError(
                folder, None, None,
                "the folder has a state.json but no .arrow data files; save the dataset again",
            )
        return tuple(files)
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DatasetError(
            folder, None, None,
            f"state.json lists {', '.join(missing)}, which the folder lacks; copy the whole folder again",
        )
    return tuple(folder / name for name in names)


def _shards(folder: Path) -> FolderData:
    found = _data_files(folder)
    if not found:
        raise DatasetError(folder, None, None, f"{EXPECTED}; found none")
    suffix = next(s for s in SHARD_SUFFIXES if any(f.suffix.lower() == s for f in found))
    files = [f for f in found if f.suffix.lower() == suffix]
    left_out = sorted({f.suffix.lower() for f in found} - {suffix})
    by_split: dict[str | None, list[Path]] = {}
    for file in files:
        by_split.setdefault(_split_of(file.relative_to(folder)), []).append(file)
    named = sorted(s for s in by_split if s is not None)
    note = ""
    if not named:
        chosen = files
    elif "train" in named or len(named) == 1:
        split = "train" if "train" in named else named[0]
        chosen = by_split[split]
        others = [s for s in named if s != split]
        note = f"read the '{split}' split" + (f"; the folder also holds {_names(others)}" if others else "")
    else:
        raise DatasetError(
            folder, None, None,
            f"the files are of the splits {_names(named)} and none is 'train'; give the path of "
            f"the files of the one to use, e.g. {by_split[named[0]][0]}",
        )
    subsets = sorted({_subset_of(f.relative_to(folder)) for f in chosen})
    if len(subsets) > 1:
        raise DatasetError(
            folder, None, None,
            f"the {suffix} files are in several folders ({', '.join(s or '.' for s in subsets)}), "
            f"which may be different subsets; give the path of one, e.g. {folder / subsets[-1]}",
        )
    if left_out:
        note = (note + "; " if note else "") + f"read the {suffix} files, not the {'/'.join(left_out)} ones"
    return FolderData(tuple(sorted(chosen, key=lambda f: _natural(f.relative_to(folder)))), note)


def _data_files(folder: Path, depth: int = 2) -> list[Path]:
    """Data files in `folder` and up to `depth` folder levels below, hidden ones (.cache, .git) left out."""
    found: list[Path] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        raise DatasetError(folder, None, None, f"cannot read the folder: {e.strerror or e}") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if depth > 0:
                found.extend(_data_files(entry, depth - 1))
        elif entry.suffix.lower() in SHARD_SUFFIXES and entry.name not in _METADATA:
            found.append(entry)
    return found


def _split_of(relative: Path) -> str | None:
    """The split a file belongs to by its name, else by its nearest folder's name; None if none says."""
    for part in (relative.stem, *reversed(relative.parent.parts)):
        match = _SPLIT_IN_NAME.search(part)
        if match:
            return _SPLITS[match.group(1).lower()]
    return None


def _subset_of(relative: Path) -> str:
    """The folder a file is in, split folders left out: 'data' for data/train/x.parquet."""
    return "/".join(p for p in relative.parent.parts if p.lower() not in _SPLITS)


def _natural(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def _names(splits: list[str]) -> str:
    return ", ".join(f"'{s}'" for s in splits)
