"""Start a real worker subprocess and talk to it the way the GUI and CLI do."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from tiny_jobs import tiny_job_dict

from studio.core import protocol


class LiveWorker:
    def __init__(self, job: dict, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        job_path = self.run_dir.parent / f"{self.run_dir.name}.job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "studio.worker", str(job_path), "--run-dir", str(self.run_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.lines: list[str] = []
        self.events: list[protocol.Event] = []
        self._queue: queue.Queue[protocol.Event | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            event = protocol.decode(line)  # raises on anything that is not an event
            self.events.append(event)
            self._queue.put(event)
        self._queue.put(None)

    def wait_for(self, predicate, timeout: float = 120.0) -> protocol.Event:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the worker sent no matching event in time")
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty as exc:
                raise TimeoutError("the worker sent no matching event in time") from exc
            if event is None:
                raise EOFError("the worker's stdout closed before a matching event")
            if predicate(event):
                return event

    def send(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(protocol.encode_command(cmd))
        self.proc.stdin.flush()

    def finish(self, timeout: float = 120.0) -> int:
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.1)  # let the reader thread drain the pipe
        return code

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def tiny_job(model_dir: Path, **sections) -> dict:
    """The shared tiny job (tests/tiny_jobs.py), long enough to pause, stop or watch."""
    return {"kind": "train", **tiny_job_dict(model_dir, 400, **sections)}
