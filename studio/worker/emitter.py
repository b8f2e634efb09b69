"""Writes each event once, whole, to stdout and to the run's ``events.jsonl``.

Several threads emit (the training loop, the system monitor, command handlers), so
a lock keeps lines whole. Stdout going away (the window closed) doesn't stop the
run: events keep going to the file, which a GUI started later can replay.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import IO

from studio.core import protocol


class Emitter:
    def __init__(self, stdout: IO[str], events_path: Path | None):
        self._stdout: IO[str] | None = stdout
        # None: stdout only (rank 0 of a multi-process run; the launcher writes the file).
        self._file = open(events_path, "a", encoding="utf-8") if events_path else None
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, event: protocol.Event) -> None:
        line = protocol.encode(event)
        with self._lock:
            if self._closed:
                return  # the run has ended: a late event (a cancel racing the end) is dropped
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
                if event.type in protocol.FINAL_EVENTS:
                    with contextlib.suppress(OSError):
                        os.fsync(self._file.fileno())
            if self._stdout is not None:
                try:
                    self._stdout.write(line)
                    self._stdout.flush()
                except (BrokenPipeError, OSError, ValueError):
                    self._stdout = None

    def hold(self) -> threading.Lock:
        """The write lock, for a caller that must exit without tearing a line."""
        return self._lock

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
