"""Start a worker process for a job and read its events: the CLI's side of the protocol.

The worker runs in its own session (Ctrl-C in the terminal reaches only the CLI,
which turns it into ``stop``, then ``cancel``). A worker that ends without a
``done`` or ``error`` event (killed, crashed) is reported as failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from studio.core import protocol, runs
from studio.core.job_schema import dumps
from studio.core.jobs import Job
from studio.core.processes import module_argv


@dataclass
class Outcome:
    exit_code: int
    final: protocol.Event | None
    died: bool  # ended without a done/error event
    signal_name: str | None = None
    bad_lines: list[str] = field(default_factory=list)


def worker_command(job_path: Path, run_dir: Path) -> list[str]:
    return module_argv("studio.worker", str(job_path), "--run-dir", str(run_dir))


class WorkerProcess:
    def __init__(self, job: Job, run_dir: Path, show_log: bool = False):
        self.run_dir = Path(run_dir)
        self.job_path = self.run_dir / runs.JOB_NAME
        from studio.core import atomic

        atomic.write_text(self.job_path, dumps(job))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            worker_command(self.job_path, self.run_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if show_log else subprocess.DEVNULL,
            env=env,
            text=True,
            encoding="utf-8",
            start_new_session=True,
        )
        self.final: protocol.Event | None = None
        self.bad_lines: list[str] = []

    def send(self, cmd: str) -> bool:
        """Send a command on stdin; False if the worker is gone."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(protocol.encode_command(cmd))
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def events(self) -> Iterator[protocol.Event]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.strip():
                continue
            try:
                event = protocol.decode(line)
            except protocol.ProtocolError:
                self.bad_lines.append(line[:200])
                continue
            if event.type in protocol.FINAL_EVENTS:
                self.final = event
            yield event

    def wait(self) -> Outcome:
        code = self.proc.wait()
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        sig = None
        if code < 0:
            try:
                sig = signal.Signals(-code).name
            except ValueError:
                sig = f"signal {-code}"
        died = self.final is None
        return Outcome(code if code >= 0 else 1, self.final, died, sig, self.bad_lines)
