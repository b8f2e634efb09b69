"""Bring a PEFT adapter from anywhere (folder or .zip) into the library, safely.

A zip is never extracted blindly: absolute paths, ``..`` parts, symbolic links and
duplicate entries are refused, and its size is checked against what an adapter can
be, before one byte is written. Only adapter files (``store.KEPT_FILES``) are
written, by us, one plain file at a time, into a staging folder inside the library;
anything else is left out and named in a warning. Pickle weights
(``adapter_model.bin``) are refused unless the user allows them. The adapter's layer
shapes, read from its safetensors header, are matched against the known base models,
and a mismatch is a warning the user sees.
"""

from __future__ import annotations

import json
import shutil
import stat
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from studio.core.cards import CARD_NAME, BaseModelRef, Card, build_card
from studio.core.disk_full import is_disk_full
from studio.core.library import failures
from studio.core.library.failures import LibraryError
from studio.core.library.files import KEPT_FILES, adapter_files, left_out_files
from studio.core.library.index import Entry
from studio.core.library.store import Library, read_adapter_config
from studio.core.methods import peft_config_label
from studio.core.models.config_reader import MAX_HEADER_BYTES, read_safetensors_header
from studio.core.models.info import ModelError, ModelInfo
from studio.core.paths import user_path
from studio.core.presets import linear_shapes

# The limits a zip must keep before anything is unpacked, and why:
MAX_MEMBERS = 256  # an adapter zipped with its tokenizer files on a Mac (every file twice, plus folders) has ~30
MAX_SIDE_BYTES = 256 << 20  # all but the weights: tokenizer.json is the largest (~35 MB for Gemma 3's vocabulary)
MAX_WEIGHT_BYTES = 20 << 30  # LoRA r=256 on every linear layer of a 70B model in float32 is ~13 GB
MAX_RATIO = 200  # safetensors of random-ish floats compress ~1.1x; 200x is a zip bomb
RATIO_FLOOR_BYTES = 1 << 20  # small files (configs) may compress well
SAFETENSORS = "adapter_model.safetensors"


@dataclass
class ImportResult:
    entry: Entry
    base: ModelInfo | None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ZipPlan:
    """What to unpack from a zip (member, file name) and what to leave out (its entry names)."""

    kept: list[tuple[zipfile.ZipInfo, str]]
    left_out: list[str]


def safe_members(archive: zipfile.ZipFile, source: Path) -> list[tuple[zipfile.ZipInfo, str]]:
    """(member, file name) for every adapter file, or LibraryError naming the first hostile entry."""
    return plan_unpack(archive, source).kept


def plan_unpack(archive: zipfile.ZipFile, source: Path) -> ZipPlan:
    """The members to unpack, after every check that needs no byte written."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise LibraryError(f"{source}: refused: {len(members)} entries; an adapter has a handful of files "
                           f"(at most {MAX_MEMBERS} entries are accepted)")
    seen: set[str] = set()
    kept, left_out, side_bytes, weight_bytes = [], [], 0, 0
    for info in members:
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise LibraryError(f"{source}: refused: the zip entry {name!r} has an absolute path")
        if ".." in path.parts:
            raise LibraryError(f"{source}: refused: the zip entry {name!r} points outside its folder ('..')")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise LibraryError(f"{source}: refused: the zip entry {name!r} is a symbolic link")
        if str(path) in seen:
            raise LibraryError(f"{source}: refused: the zip holds {name!r} twice (which one is the adapter's?)")
        seen.add(str(path))
        if info.is_dir():
            continue
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise LibraryError(f"{source}: refused: {name!r} would unpack "
                               f"{info.file_size / max(1, info.compress_size):.0f} times larger than it is stored"
                               " (a zip bomb?)")
        if path.name in ("adapter_model.safetensors", "adapter_model.bin"):
            weight_bytes += info.file_size
        else:
            side_bytes += info.file_size
        if path.name == CARD_NAME:
            continue  # an import gets a card of its own, made from what the adapter is
        if path.name in KEPT_FILES:
            kept.append((info, path))
        else:
            left_out.append(name)
    if weight_bytes > MAX_WEIGHT_BYTES:
        raise LibraryError(f"{source}: refused: its weights unpack to {weight_bytes / 2**30:.1f} GiB, more than "
                           f"any adapter ({MAX_WEIGHT_BYTES >> 30} GiB at most)")
    if side_bytes > MAX_SIDE_BYTES:
        raise LibraryError(f"{source}: refused: besides the weights it unpacks to {side_bytes / 2**20:.0f} MiB; an "
                           f"adapter's configs and tokenizer files take far less ({MAX_SIDE_BYTES >> 20} MiB at most)")
    folders = {p.parent for _i, p in kept}
    if len(folders) > 1:
        raise LibraryError(f"{source}: expected the adapter's files in one folder, found {len(folders)} folders")
    for info, path in kept:
        if path.name == SAFETENSORS:
            _check_weights_size(archive, info, source)
    return ZipPlan([(info, path.name) for info, path in kept], left_out)


def _check_weights_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: Path) -> None:
    """The safetensors member must be exactly as long as its own header says: the header names
    every tensor's bytes, so a member padded out to fill a disk is refused before it is written."""
    try:
        with archive.open(info) as member:
            head = member.read(8)
            (length,) = struct.unpack("<Q", head) if len(head) == 8 else (-1,)
            if not 0 < length <= min(MAX_HEADER_BYTES, info.file_size - 8):
                raise ValueError("no safetensors header")
            header = json.loads(member.read(length))
        header.pop("__metadata__", None)
        data = max((int(t["data_offsets"][1]) for t in header.values()), default=0)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, struct.error, zipfile.BadZipFile) as exc:
        raise LibraryError(f"{source}: {info.filename!r} is not a readable safetensors file ({exc})") from None
    if 8 + length + data != info.file_size:
        raise LibraryError(f"{source}: refused: {info.filename!r} unpacks to {info.file_size} bytes but its header "
                           f"describes {8 + length + data}")


def _unpack(source: Path, into: Path) -> tuple[Path, list[str]]:
    """The adapter's files written into ``into``, and the entries left out."""
    try:
        with zipfile.ZipFile(source) as archive:
            plan = plan_unpack(archive, source)
            for info, name in plan.kept:
                _copy_member(archive, info, into / name, source)
    except zipfile.BadZipFile as exc:
        raise LibraryError(f"{source}: not a readable zip file ({exc})") from None
    return into, plan.left_out


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, source: Path) -> None:
    """One member, never more bytes than it declared (its declared size is what was checked)."""
    left = info.file_size
    with archive.open(info) as src, open(target, "xb") as dst:
        while chunk := src.read(min(1 << 20, left + 1)):
            left -= len(chunk)
            if left < 0:
                raise LibraryError(f"{source}: refused: {info.filename!r} holds more than the size it declares")
            dst.write(chunk)


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
    try:
        return _import(library, source, name, allow_pickle, known_models)
    except OSError as exc:  # the disk (full, read-only) or the source (unreadable): one sentence
        names = [str(n) for n in (exc.filename, exc.filename2) if n]
        inside = (is_disk_full(exc) or exc.errno in failures.READ_ONLY or not names
                  or any(n.startswith(str(library.root)) for n in names))
        raise LibraryError(failures.describe(exc, library.root) if inside
                           else f"{source}: can't be read: {exc.strerror or exc} ({exc.filename})") from exc


def _import(library: Library, source: Path, name: str | None, allow_pickle: bool,
            known_models: list[ModelInfo] | None) -> ImportResult:
    with tempfile.TemporaryDirectory(prefix=".import-", dir=library.root) as tmp:
        if source.is_file():
            folder, left_out = _unpack(source, Path(tmp))
        else:
            folder, left_out = source, left_out_files(source)
        files = adapter_files(folder, allow_pickle)  # checks adapter_config and the pickle rule
        config = read_adapter_config(folder)
        if not config:
            raise LibraryError(f"{source}: adapter_config.json is not a valid JSON object")
        warnings: list[str] = []
        if left_out:
            warnings.append(f"left out {len(left_out)} file(s) that are not part of an adapter: "
                            + ", ".join(left_out[:8]) + (", …" if len(left_out) > 8 else ""))
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
