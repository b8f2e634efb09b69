"""Telling a hung worker from a slow one, from its events alone.

A worker that trains sends a step (or eval, checkpoint, sample) event every few
seconds; one that is stuck (a deadlock, a dead GPU, a hung file system) keeps sending
``system`` events from its monitor thread, or nothing at all. The CLI and the GUI
feed every event here and ask, now and then, whether progress stopped. Loading and
data preparation are exempt: a large model can take minutes to load with no step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from studio.core import protocol

WATCHED_PHASES = ("training", "stopping", "evaluating", "saving")
DEFAULT_TIMEOUT_S = 600.0


@dataclass
class HangWatch:
    timeout_s: float = DEFAULT_TIMEOUT_S
    phase: str = ""
    last_progress: float = 0.0
    last_step: int | None = None
    reported: bool = False

    def seen(self, event: protocol.Event, now: float | None = None) -> None:
        if isinstance(event, protocol.System | protocol.Hello):
            return  # the monitor thread runs on while the training loop is stuck
        now = time.monotonic() if now is None else now
        self.last_progress, self.reported = now, False
        if isinstance(event, protocol.Phase):
            self.phase = event.name
        elif isinstance(event, protocol.Step):
            self.phase, self.last_step = "training", event.step

    def stalled_for(self, now: float | None = None) -> float | None:
        """Seconds without progress in a watched phase, once past the timeout; else None."""
        if self.phase not in WATCHED_PHASES or not self.last_progress or self.timeout_s <= 0:
            return None
        idle = (time.monotonic() if now is None else now) - self.last_progress
        return idle if idle >= self.timeout_s else None

    def stall(self, idle: float) -> str:
        """'no progress for 12 s since step 40' (or 'while evaluating')."""
        where = f" since step {self.last_step}" if self.last_step is not None else f" while {self.phase}"
        return f"no progress for {idle:.0f} s{where}"

    def message(self, idle: float) -> str:
        return f"{self.stall(idle)}: the worker may be hung"
