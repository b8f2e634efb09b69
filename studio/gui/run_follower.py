"""Follow a run folder: new events and log lines as Qt signals, and whether it lives.

Reads the appended part of ``events.jsonl`` and ``worker.log`` on a timer (every
100 ms), so a run started by this window, by the CLI, or by a window long closed
is followed the same way. Events arrive in batches: one signal per tick, however
many events came, which keeps the GUI thread free under 10,000 events/s.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from studio.core import protocol, runs

LIVENESS_EVERY_TICKS = 10  # check the worker's lock about once a second
MAX_BYTES_PER_TICK = 256 * 1024  # ~1,000 step events


class RunFollower(QObject):
    events = Signal(list)  # list[protocol.Event], in order
    log = Signal(str)  # new text of worker.log
    finished = Signal(str, object)  # status ("done", "stopped", "failed", "cancelled"), final event or None
    bad_line = Signal(str)

    def __init__(self, run_dir: Path, interval_ms: int = 100, startup_grace_s: float = 30.0,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._started = time.monotonic()
        self._grace_s = startup_grace_s
        self.run_dir = Path(run_dir)
        self._events_pos = 0
        self._log_pos = 0
        self._partial = b""
        self._ticks = 0
        self.final: protocol.Event | None = None
        self.done = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)

    def start(self) -> RunFollower:
        self.poll()
        if not self.done:
            self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop()

    def dispose(self) -> None:
        """Stop, cut every connection, and let Qt delete it (a page switching runs)."""
        self._timer.stop()
        for signal in (self.events, self.log, self.bad_line, self.finished):
            with warnings.catch_warnings():  # PySide warns (not raises) when nothing was connected
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):
                    pass
        self.deleteLater()

    def poll(self) -> None:
        batch = self._read_events()
        if batch:
            self.events.emit(batch)
        text = self._read_log()
        if text:
            self.log.emit(text)
        self._ticks += 1
        if self.final is not None:
            self._finish(runs.summarize(self.run_dir).status)
        elif (self._ticks % LIVENESS_EVERY_TICKS == 1 and not self._backlog()
              and not runs.is_locked(self.run_dir) and not self._starting()):
            # No final event and no live worker: read once more (it may have just
            # finished), then call it dead.
            batch = self._read_events()
            if batch:
                self.events.emit(batch)
            if self.final is None:
                runs.record_death(self.run_dir, "the worker ended without a final event")
            self._finish(runs.summarize(self.run_dir).status)

    def _backlog(self) -> bool:
        try:
            return (self.run_dir / runs.EVENTS_NAME).stat().st_size > self._events_pos
        except FileNotFoundError:
            return False

    def _starting(self) -> bool:
        """A worker just launched has not taken its lock yet: give it time."""
        lock = self.run_dir / runs.LOCK_NAME
        return not lock.exists() and time.monotonic() - self._started < self._grace_s

    def _finish(self, status: str) -> None:
        if self.done:
            return
        self.done = True
        self._timer.stop()
        self.finished.emit(status, self.final)

    def _read_events(self) -> list[protocol.Event]:
        path = self.run_dir / runs.EVENTS_NAME
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self._events_pos:
                    # Someone cut the file (a disk cleaner, a user): what was lost is lost;
                    # say so and go on with what the worker appends from here.
                    self.bad_line.emit(f"the events file shrank from {self._events_pos:,} to {size:,} bytes; "
                                       "following what is written from here on")
                    self._events_pos, self._partial = size, b""
                handle.seek(self._events_pos)
                # A bounded bite per tick: reattaching to a long run catches up over a
                # few ticks instead of freezing the window while it decodes everything.
                chunk = handle.read(MAX_BYTES_PER_TICK)
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self._events_pos += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for the next tick
        out: list[protocol.Event] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                event = protocol.decode(line)
            except protocol.ProtocolError as exc:
                self.bad_line.emit(f"{exc}")
                continue
            if event.type in protocol.FINAL_EVENTS:
                self.final = event
            out.append(event)
        return out

    def _read_log(self) -> str:
        path = self.run_dir / runs.LOG_NAME
        try:
            with open(path, "rb") as handle:
                handle.seek(self._log_pos)
                chunk = handle.read(1 << 20)
        except FileNotFoundError:
            return ""
        self._log_pos += len(chunk)
        return chunk.decode("utf-8", errors="replace")
