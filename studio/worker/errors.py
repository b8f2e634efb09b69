"""Turn any failure into an ``error`` event with a kind, a message and a hint.

The kind decides the exit status (DESIGN.md); the hint says what to change.
"""

from __future__ import annotations

from pathlib import Path

from studio.core import protocol
from studio.core.datasets import DatasetError
from studio.core.disk_full import full_path, is_disk_full, no_room
from studio.core.job_schema import JobError
from studio.core.library import LibraryError
from studio.core.models import ModelError
from studio.core.rewards import UserRewardError

OOM_HINT = ("lower training.batch_size (raise grad_accum to keep the effective batch), enable "
            "training.gradient_checkpointing, shorten training.max_length, or load the base in 4-bit (QLoRA)")
RAM_HINT = ("this machine's RAM ran out: lower training.batch_size, training.max_length or lora.r, enable "
            "training.gradient_checkpointing, or close other programs")


def classify(exc: BaseException, run_dir: Path | None = None) -> protocol.Error:
    """``run_dir``: named in the resume command of a full disk's hint."""
    from studio.engine.control import Cancelled
    from studio.engine.hardware import is_out_of_memory, is_out_of_ram
    from studio.engine.model_loading import ModelLoadError
    from studio.worker.rank_launcher import RankFailed

    if isinstance(exc, RankFailed):
        return exc.error  # a rank already said what went wrong
    if isinstance(exc, Cancelled):
        return protocol.Error(kind="cancelled", message=protocol.cancelled_message())
    if isinstance(exc, JobError):  # a MachineError says how to fix it (not "check model.path")
        return protocol.Error(kind="config", message=str(exc), hint=getattr(exc, "hint", "fix the fields named above"))
    if isinstance(exc, UserRewardError):  # the user's own reward code: its file and line are in the message
        return protocol.Error(kind="config", message=str(exc),
                              hint="fix your reward file at the line named; or set grpo.on_reward_error = 'skip' to "
                                   "leave a failing reward out of a batch and go on")
    if isinstance(exc, DatasetError):
        hint = ("fix or remove that row; `lora-studio datasets inspect FILE` lists every bad row" if exc.row is not None
                else "check dataset.path and the file; `lora-studio datasets inspect FILE` says what it finds")
        return protocol.Error(kind="data", message=str(exc), hint=hint)
    if isinstance(exc, ModelLoadError | ModelError):
        return protocol.Error(kind="model", message=str(exc),
                              hint="check model.path points at a folder with config.json and weights, or a .gguf file")
    if is_out_of_memory(exc):
        return protocol.Error(kind="oom", message=f"out of memory: {_first_line(exc)}",
                              hint=RAM_HINT if is_out_of_ram(exc) else OOM_HINT)
    if isinstance(exc, FloatingPointError):
        return protocol.Error(kind="internal", message=str(exc),
                              hint="lower training.learning_rate, keep max_grad_norm at 1.0, or use bf16/fp32 instead of fp16")
    # safetensors, torch.save, SQLite and Python each say it in their own words; a write error in
    # words not known here, on a disk with no room left, is the same thing
    if is_disk_full(exc) or (isinstance(exc, (OSError, RuntimeError)) and run_dir is not None
                             and no_room(run_dir)):
        where = f" while writing {path}" if (path := full_path(exc)) else ""
        run = f"'{run_dir}'" if run_dir is not None else "RUN"
        return protocol.Error(kind="disk_full", message=f"the disk is full{where}; nothing half-written was kept",
                              hint=f"free some space, then `lora-studio train --resume {run}` continues from the "
                                   "last checkpoint (or says why there is none)")
    if isinstance(exc, LibraryError):
        return protocol.Error(kind="config", message=str(exc),
                              hint="`lora-studio library list` shows the adapters; give NAME/vN or a folder")
    if isinstance(exc, FileNotFoundError | FileExistsError):
        return protocol.Error(kind="config", message=str(exc), hint="check the paths in the job")
    return protocol.Error(kind="internal", message=f"{type(exc).__name__}: {_first_line(exc)}",
                          hint="see worker.log in the run folder for the full traceback")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
