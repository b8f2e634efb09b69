"""Failing on purpose: the fault drills of the reliability tests, parsed and checked.

A job's ``faults.inject = "KIND@STEP"`` makes the engine fail in one of the ways a
real run can (out of memory, a NaN loss, a hang, a hard crash, a full disk) at the
step named, through the same code paths a real failure takes. Nothing in the app
sets it; a resumed run drops it.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("oom", "nan", "hang", "crash", "disk_full")


class FaultError(ValueError):
    """A malformed ``faults.inject``."""


@dataclass(frozen=True)
class Fault:
    kind: str
    step: int  # the optimizer step (1-based) it strikes in; 0 for disk_full = at the final save

    def strikes(self, kind: str, step: int) -> bool:
        return self.kind == kind and self.step == step


def parse_fault(text: str) -> Fault | None:
    if not text:
        return None
    kind, at, step = text.partition("@")
    if kind not in KINDS or not at or not step.isdigit():
        raise FaultError(f"must be KIND@STEP with KIND one of {', '.join(KINDS)}, e.g. oom@3; got {text!r}")
    if kind != "disk_full" and int(step) < 1:
        raise FaultError(f"{kind} needs a step >= 1, got {text!r}")
    return Fault(kind, int(step))
