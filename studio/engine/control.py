"""Commands from the user, as seen by a running job.

The worker's command readers (stdin, control socket, signals) set these flags from
other threads; the training loop reads them between steps. The engine never reads
commands itself, so it can be driven by a test just as well.
"""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Cancelled(Exception):
    """Raised between steps after a cancel: exit at once and save nothing."""


class JobControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._checkpoint = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._requests: queue.Queue[dict[str, Any]] = queue.Queue()
        self._listeners: list[Callable[[str], None]] = []
        # A cancel exits the process at once (worker.runner); these decide whether it still may.
        self._ending = threading.Lock()
        self._committed = False
        self._scratch: list[Path] = []

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Called with every command after it is applied (the multi-process launcher
        passes them on to rank 0)."""
        self._listeners.append(listener)

    # Called from command threads.
    def request(self, command: str) -> None:
        if command == "stop":
            self._stop.set()
            self._running.set()
        elif command == "cancel":
            self._cancel.set()
            self._running.set()
        elif command == "checkpoint":
            self._checkpoint.set()
        elif command == "pause":
            self._running.clear()
        elif command == "resume":
            self._running.set()
        else:
            raise ValueError(f"unknown command {command!r}")
        for listener in self._listeners:
            listener(command)

    def submit(self, request: dict[str, Any]) -> None:
        """A generate request for a serving job (the compare worker)."""
        self._requests.put(request)

    def next_request(self, timeout_s: float) -> dict[str, Any] | None:
        """The next generate request, or None after ``timeout_s`` or on stop/cancel."""
        deadline_step = 0.1
        waited = 0.0
        while waited < timeout_s and not (self._stop.is_set() or self._cancel.is_set()):
            try:
                return self._requests.get(timeout=deadline_step)
            except queue.Empty:
                waited += deadline_step
        return None

    # A cancel that exits at once must not leave half a result, nor claim "nothing was saved"
    # after the result landed: the job names what it is writing, and the moment it is kept.
    def discard_on_cancel(self, path: Path) -> None:
        """``path`` (a staging folder, an output being written) is removed if the job is
        cancelled before it commits."""
        self._scratch.append(Path(path))

    def commit(self) -> None:
        """From here the job's result stands: a later cancel is turned down. Waits while a
        cancel already claimed the job (its process is about to exit)."""
        with self._ending:
            self._committed = True

    def claim_cancel(self) -> bool:
        """For the worker's cancel: False when the job has committed (too late); else True,
        and the job can no longer commit (the caller exits the process)."""
        self._ending.acquire()
        if self._committed:
            self._ending.release()
            return False
        return True

    def discard(self) -> None:
        """Remove what :meth:`discard_on_cancel` named (after :meth:`claim_cancel`)."""
        for path in reversed(self._scratch):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    # Called from the training loop.
    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def take_checkpoint_request(self) -> bool:
        if self._checkpoint.is_set():
            self._checkpoint.clear()
            return True
        return False

    def wait_while_paused(self, poll_s: float = 0.2) -> None:
        while not self._running.wait(poll_s):
            pass
        if self._cancel.is_set():
            raise Cancelled()
