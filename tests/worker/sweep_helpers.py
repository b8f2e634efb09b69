"""What the sweep tests with real workers share: a sweep file on the tiny model, and ending the
queue runners a sweep leaves behind (each home has its own)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from tiny_jobs import tiny_job_dict

from studio.core.queue import runner


def sweep_file(folder: Path, model_dir: Path, name: str, space: dict[str, Any], steps: int = 30,
               training: dict[str, Any] | None = None, **fields: Any) -> Path:
    """A grid sweep of the tiny job (an eval every 2 steps unless ``training`` says otherwise)."""
    base = tiny_job_dict(model_dir, steps=steps, training={"eval_steps": 2, **(training or {})})
    data = {"kind": "sweep", "name": name, "sampler": "grid", "base": base, "space": space, **fields}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def kill(pid: int | None) -> None:
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def end_runner(home: Path | None = None, wait_s: float = 30) -> None:
    """Let the queue runner of ``home`` (default: this test's) exit once its queue is empty, then
    kill it if it has not: no runner outlives its test."""
    previous = os.environ.get("LORA_STUDIO_HOME")
    if home is not None:
        os.environ["LORA_STUDIO_HOME"] = str(home)
    try:
        deadline = time.monotonic() + wait_s
        while runner.runner_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        kill(runner.runner_pid())
    finally:
        if previous is not None:
            os.environ["LORA_STUDIO_HOME"] = previous
