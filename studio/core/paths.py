"""Where LoRA Studio keeps its files: one home folder, laid out as DESIGN.md says.

Everything (settings, converted models, runs, the adapter library) lives under one
folder so a user can move, back up or delete it as a whole, and tests can point it
at a temp dir with ``LORA_STUDIO_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "lora-studio"
HOME_ENV = "LORA_STUDIO_HOME"
PRIVATE_DIR = 0o700  # the home, runs and library: what was trained on is nobody else's business


def user_path(text: str | os.PathLike[str]) -> Path:
    """A path as a person typed it, with ``~`` expanded; one naming an unknown user ("~0/data") is
    kept as written (pathlib raises RuntimeError) and then reads as a missing file, as it should."""
    path = Path(text)
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def home() -> Path:
    """The home folder, created on first use."""
    override = os.environ.get(HOME_ENV)
    root = user_path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))
    root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    return root


def models_dir() -> Path:
    """Converted (GGUF → safetensors) and downloaded models."""
    return _sub("models")


def runs_dir() -> Path:
    return _sub("runs")


def library_dir() -> Path:
    return _sub("library")


def cache_dir() -> Path:
    """Caches that outlive a run: torch.compile's (inductor's FX/AOT graphs, Triton's kernels)."""
    return _sub("cache")


def compile_cache_environment() -> dict[str, str]:
    """Where inductor and Triton keep what they compiled, so the next run of the same model
    loads its kernels instead of compiling them again (their defaults sit in /tmp, which a
    reboot or a cleaner empties). Set before torch is imported. Nothing is created here:
    inductor and Triton make their folders when they first compile, and a home where they
    can't only compiles into memory."""
    root = home() / "cache"
    return {"TORCHINDUCTOR_CACHE_DIR": str(root / "inductor"), "TRITON_CACHE_DIR": str(root / "triton")}


def settings_file() -> Path:
    return home() / "settings.json"


def _sub(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    return path


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a new file only its owner can read (a run's events
    and log can quote what it read, and a dataset may be anything the user can read)."""
    return os.open(path, flags, 0o600)
