"""Helpers for the CLI tests: run ``lora-studio`` for real, as a subprocess.

Every command runs as ``python -m studio.cli.main …`` with the test's environment
(``LORA_STUDIO_HOME`` comes from the autouse ``studio_home`` fixture, or is given
explicitly by module-scoped fixtures) and ``COLUMNS=200`` so rich tables keep
whole values on one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def flat(self) -> str:
        """The output with line breaks removed: a long path that rich wrapped is whole again."""
        return self.output.replace("\n", "")

    @property
    def words(self) -> str:
        """The output's words one space apart: a sentence that rich wrapped at a space reads whole
        (``flat`` would join the words on either side of the break)."""
        return " ".join(self.output.split())


def cli_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ, COLUMNS="200", PYTHONUNBUFFERED="1")
    if home is not None:
        env["LORA_STUDIO_HOME"] = str(home)
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    proc = subprocess.run([sys.executable, "-m", "studio.cli.main", *map(str, args)],
                          env=env or cli_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def tiny_train_args(model_dir: Path, max_steps: int = 6, save_steps: int = 3) -> list[str]:
    """The quick job of tests/engine/helpers.py, as command-line flags."""
    return ["train", "--model", str(model_dir), "--max-steps", str(max_steps), "--max-rows", "48",
            "--rank", "8", "--lr", "1e-2", "--max-length", "96", "--device", "cpu",
            "--save-steps", str(save_steps)]


def read_events(run_dir: Path) -> list[dict]:
    """Every whole line of the run's events.jsonl (a line being written is left out)."""
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            events.append(json.loads(line))
    return events


def run_dirs(home: Path) -> list[Path]:
    root = home / "runs"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


@dataclass
class LiveTrain:
    proc: subprocess.Popen
    home: Path
    env: dict[str, str]
    run_dir: Path | None = None

    def wait_for_step(self, deadline_s: float = 120) -> Path:
        """Block until the run's events.jsonl holds a ``step`` event; returns the run folder."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read() if self.proc.stdout else ""
                raise AssertionError(f"train ended early (exit {self.proc.returncode}):\n{out}")
            found = run_dirs(self.home)
            if found:
                self.run_dir = found[0]
                if any(e.get("type") == "step" for e in read_events(self.run_dir)):
                    return self.run_dir
            time.sleep(0.1)
        raise AssertionError(f"no step event within {deadline_s} s")

    def worker_pid(self) -> int:
        assert self.run_dir is not None
        return next(e["pid"] for e in read_events(self.run_dir) if e.get("type") == "hello")

    def finish(self, timeout: float = 60) -> Result:
        out, _ = self.proc.communicate(timeout=timeout)
        return Result(self.proc.returncode, out, "")


def _kill_leftover_worker(live: LiveTrain) -> None:
    """The worker runs in its own session, so it outlives a killed CLI: end it by its pid,
    after checking that pid is still this run's worker."""
    if live.run_dir is None:
        found = run_dirs(live.home)
        live.run_dir = found[0] if found else None
    if live.run_dir is None:
        return
    with contextlib.suppress(StopIteration, OSError, ValueError):
        pid = live.worker_pid()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "studio.worker" in cmdline and str(live.run_dir) in cmdline:
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def live_train(args: list[str], home: Path, **extra_env: str) -> Iterator[LiveTrain]:
    """Start ``lora-studio train …`` in the background; whatever happens, leave no process behind."""
    env = cli_env(home, **extra_env)
    proc = subprocess.Popen([sys.executable, "-m", "studio.cli.main", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    live = LiveTrain(proc, home, env)
    try:
        yield live
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=10)
        _kill_leftover_worker(live)
