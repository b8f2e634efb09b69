"""Writes each event once, whole, to stdout and to the run's ``events.jsonl``.

Several threads emit (the training loop, the system monitor, command handlers), so
a lock keeps lines whole. Stdout going away (the window closed) doesn't stop the
run: events keep going to the file, which a GUI started later can replay. The file
failing (a full disk) does stop it: stdout is written first so the watcher still hears
every event, and the training thread's next event raises the OSError, so the run ends
with a disk_full error and a resume hint instead of training on with no record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import IO

from studio.core import paths, protocol

log = logging.getLogger(__name__)


class Emitter:
    def __init__(self, stdout: IO[str], events_path: Path | None):
        self._stdout: IO[str] | None = stdout
        # None: stdout only (rank 0 of a multi-process run; the launcher writes the file).
        self._file = open(events_path, "a", encoding="utf-8", opener=paths.private_opener) if events_path else None
        self._lock = threading.Lock()
        self._closed = False
        self._file_error: OSError | None = None  # raised once, in the main thread, then forgotten

    def __call__(self, event: protocol.Event) -> None:
        line = protocol.encode(event)
        with self._lock:
            if self._closed:
                return  # the run has ended: a late event (a cancel racing the end) is dropped
            self._write(event, line)
            error = self._file_error
            if error is not None and event.type not in protocol.FINAL_EVENTS \
                    and threading.current_thread() is threading.main_thread():
                self._file_error = None
                raise error

    def _write(self, event: protocol.Event, line: str) -> None:
        """Stdout first, then the file; called with the lock held."""
        if self._stdout is not None:
            try:
                self._stdout.write(line)
                self._stdout.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._stdout = None
        if self._file is not None:
            try:
                self._file.write(line)
                self._file.flush()
                if event.type in protocol.FINAL_EVENTS:
                    with contextlib.suppress(OSError):
                        os.fsync(self._file.fileno())
            except OSError as exc:
                self._lose_file(exc)

    def _lose_file(self, exc: OSError) -> None:
        log.error("could not write the run's events file (%s); the run stops", exc)
        with contextlib.suppress(OSError):
            self._file.close()  # type: ignore[union-attr]
        self._file = None
        self._file_error = exc

    def reopen(self, events_path: Path, first: protocol.Event) -> None:
        """Go on in a new events file (the old one was deleted with its run folder).

        ``first`` (the warning that says why) is written in the same hold of the lock,
        so no step from the training thread comes before it in the new file.
        """
        with self._lock:
            if self._closed:
                return
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
            self._file = open(events_path, "a", encoding="utf-8", opener=paths.private_opener)
            self._write(first, protocol.encode(first))

    def hold(self) -> threading.Lock:
        """The write lock, for a caller that must exit without tearing a line."""
        return self._lock

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
