"""Small shared pieces for engine tests: the shared tiny job (tests/tiny_jobs.py), an event recorder."""

from __future__ import annotations

from tiny_jobs import tiny_job  # noqa: F401 - the engine tests' job, shared with the others

from studio.core import protocol


class Recorder:
    def __init__(self) -> None:
        self.events: list[protocol.Event] = []

    def __call__(self, event: protocol.Event) -> None:
        protocol.decode(protocol.encode(event))  # every event must survive the wire
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def losses(self) -> list[float]:
        return [e.loss for e in self.of(protocol.Step)]
