"""Bring a PEFT adapter from anywhere (folder or .zip) into the library, safely.

A zip is never extracted blindly: absolute paths, ``..`` parts and symbolic links
are refused before one byte is written, and members are written by us, one plain
file at a time, into a staging folder inside the library. Pickle weights
(``adapter_model.bin``) are refused unless the user allows them. The adapter's
layer shapes, read from its safetensors header, are matched against the known
base models, and a mismatch is a warning the user sees.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from studio.core.cards import BaseModelRef, Card, build_card
from studio.core.library.index import Entry
from studio.core.library.store import Library, LibraryError, adapter_files, read_adapter_config
from studio.core.methods import peft_config_label
from studio.core.models.config_reader import read_safetensors_header
from studio.core.models.info import ModelError, ModelInfo
from studio.core.paths import user_path
from studio.core.presets import linear_shapes

MAX_UNPACKED_BYTES = 20 * 2**30
MAX_RATIO = 200  # safetensors of random-ish floats compress ~1.1x; 200x is a zip bomb
RATIO_FLOOR_BYTES = 1 << 20  # small files (configs) may compress well


@dataclass
class ImportResult:
    entry: Entry
    base: ModelInfo | None
    warnings: list[str] = field(default_factory=list)


def safe_members(archive: zipfile.ZipFile, source: Path) -> list[tuple[zipfile.ZipInfo, str]]:
    """(member, file name) for every file, or LibraryError naming the first hostile entry."""
    files, total = [], 0
    for info in archive.infolist():
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise LibraryError(f"{source}: refused: the zip entry {name!r} has an absolute path")
        if ".." in path.parts:
            raise LibraryError(f"{source}: refused: the zip entry {name!r} points outside its folder ('..')")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise LibraryError(f"{source}: refused: the zip entry {name!r} is a symbolic link")
        if info.is_dir():
            continue
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise LibraryError(f"{source}: refused: {name!r} would unpack {info.file_size / info.compress_size:.0f} "
                               "times larger than it is stored (a zip bomb?)")
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise LibraryError(f"{source}: refused: it unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB")
        files.append((info, path))
    folders = {p.parent for _i, p in files}
    if len(folders) > 1:
        raise LibraryError(f"{source}: expected the adapter's files in one folder, found {len(folders)} folders")
    return [(info, path.name) for info, path in files]


def _unpack(source: Path, into: Path) -> Path:
    try:
        with zipfile.ZipFile(source) as archive:
            for info, name in safe_members(archive, source):
                with archive.open(info) as src, open(into / name, "xb") as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as exc:
        raise LibraryError(f"{source}: not a readable zip file ({exc})") from None
    return into


def adapter_shapes(folder: Path) -> dict[str, tuple[int, int, int]]:
    """module name -> (in, out, rank) from the adapter's safetensors header."""
    header = read_safetensors_header(folder / "adapter_model.safetensors")
    a_shapes: dict[str, list[int]] = {}
    b_shapes: dict[str, list[int]] = {}
    for tensor, entry in header.items():
        for marker, into in ((".lora_A.", a_shapes), (".lora_B.", b_shapes)):
            if marker in tensor:
                module = tensor.split(marker)[0].split(".")[-1]
                into.setdefault(module, entry["shape"])
    found = {}
    for module, (rank, fan_in) in ((m, s) for m, s in a_shapes.items() if len(s) == 2):
        b = b_shapes.get(module)
        if b and len(b) == 2:
            found[module] = (fan_in, b[0], rank)
    return found


def matching_models(shapes: dict[str, tuple[int, int, int]], models: list[ModelInfo]) -> list[ModelInfo]:
    """Known base models whose layers have every shape the adapter was trained on."""
    out = []
    for model in models:
        known = linear_shapes(model.config) or {}
        if shapes and all(module in known and known[module] == (fan_in, fan_out)
                          for module, (fan_in, fan_out, _r) in shapes.items()):
            out.append(model)
    return out


def _named_base(config: dict[str, Any]) -> list[ModelInfo]:
    """The base model the adapter names, when that path exists on this machine."""
    from studio.core.models import inspect_model

    named = str(config.get("base_model_name_or_path") or "")
    if not named or not user_path(named).exists():
        return []
    try:
        return [inspect_model(user_path(named))]
    except (ModelError, OSError):
        return []


def import_adapter(library: Library, source: Path, *, name: str | None = None, allow_pickle: bool = False,
                   known_models: list[ModelInfo] | None = None) -> ImportResult:
    source = user_path(source)
    if not source.exists():
        raise LibraryError(f"{source} does not exist")
    with tempfile.TemporaryDirectory(prefix=".import-", dir=library.root) as tmp:
        folder = _unpack(source, Path(tmp)) if source.is_file() else source
        files = adapter_files(folder, allow_pickle)  # checks adapter_config and the pickle rule
        config = read_adapter_config(folder)
        if not config:
            raise LibraryError(f"{source}: adapter_config.json is not a valid JSON object")
        warnings: list[str] = []
        base = None
        if (folder / "adapter_model.safetensors").is_file():
            try:
                shapes = adapter_shapes(folder)
            except ModelError as exc:
                raise LibraryError(str(exc)) from None
            matches = matching_models(shapes, [*_named_base(config), *(known_models or [])])
            base = matches[0] if matches else None
            if not matches:
                described = ", ".join(f"{m} {i}→{o}" for m, (i, o, _r) in sorted(shapes.items())[:4])
                warnings.append(f"no known base model has this adapter's layer shapes ({described}); it was made "
                                f"for {config.get('base_model_name_or_path') or 'an unknown model'}")
        else:
            warnings.append("weights are a pickle file (allowed by you); their shapes were not checked")
        card = imported_card(config, source, base)
        stage_files = Path(tmp) / ".files"
        stage_files.mkdir(exist_ok=True)
        for file in files:
            if file.parent != stage_files:
                shutil.copyfile(file, stage_files / file.name)
        entry = library.add(stage_files, card, name=name or card.name, parents=[], allow_pickle=allow_pickle)
    return ImportResult(entry, base, warnings)


def imported_card(config: dict[str, Any], source: Path, base: ModelInfo | None) -> Card:
    method = peft_config_label(config)
    stem = source.stem if source.is_file() else source.name
    base_model = (BaseModelRef(id=base.id, model_id=base.id, name=base.name, architecture=base.architecture)
                  if base else BaseModelRef(id=str(config.get("base_model_name_or_path") or ""), name=""))
    return build_card(config, name=stem or "imported", base_model=base_model, method=method,
                      imported_from=str(source))
