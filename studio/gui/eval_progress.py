"""How far an eval job is, read from its phase events: model n of all, and how far into it.

``run_eval`` reports ``evaluating`` (models done of all), then within each model
``scoring`` (batches whose loss is done) and ``answering`` (rows answered). This turns
them into one line, one fraction for a progress bar and an ETA from the time so far, so
a nine-minute evaluation shows where it is instead of a static "Evaluating on …".
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from studio.core import protocol

STAGES = {"scoring": (0.0, "loss", "batches"), "answering": (0.5, "answering", "rows")}  # start of its half, words


@dataclass
class EvalProgress:
    models: int = 0  # base and adapters
    models_done: int = 0
    model: str = ""
    stage: str = ""  # a phase name: preparing_data, evaluating, scoring, answering
    done: int = 0
    total: int = 0
    started: float | None = None  # time.monotonic() when the first model began (the ETA leaves loading out)

    def add(self, events: list[protocol.Event]) -> None:
        for event in events:
            if not isinstance(event, protocol.Phase):
                continue
            if event.name == "evaluating" and event.total:
                self.models, self.models_done = int(event.total), int(event.done or 0)
                self.model, self.done, self.total = event.detail or "", 0, 0
                if self.started is None:
                    self.started = time.monotonic()
            elif event.name in STAGES and event.total:
                self.done, self.total = int(event.done or 0), int(event.total)
            self.stage = event.name

    def fraction(self) -> float | None:
        """0..1 over every model (each model's loss counted as its first half, its answers as
        the second); None before the first model starts."""
        if not self.models:
            return None
        within = 0.0
        if self.stage in STAGES and self.total:
            start, _what, _unit = STAGES[self.stage]
            within = start + 0.5 * self.done / self.total
        return min(1.0, (self.models_done + within) / self.models)

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left, from the time the models took so far (loading excluded)."""
        fraction = self.fraction()
        if not fraction or self.started is None:
            return None
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return elapsed * (1 - fraction) / fraction

    def text(self) -> str:
        if self.stage == "preparing_data":
            return "Preparing the dataset…"
        if not self.models:
            return "Loading the model and adapters…"
        if self.models_done >= self.models:
            return f"All {self.models} models scored; finishing…"
        line = f"Model {self.models_done + 1} of {self.models}: {self.model}"
        if self.stage in STAGES and self.total:
            _start, what, unit = STAGES[self.stage]
            line += f" · {what} {self.done} / {self.total} {unit}"
        return line
