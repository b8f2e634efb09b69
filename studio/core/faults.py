"""Failing on purpose: the fault drills of the reliability tests, parsed and checked.

``LORA_STUDIO_FAULT=KIND@STEP`` in a train worker's environment makes the engine fail in
one of the ways a real run can (out of memory, a NaN loss, a hang, a hard crash, a full
disk) at the step named, through the same code paths a real failure takes. An environment
variable, not a job field: nothing a user writes or the app saves can turn a drill on, and
a run resumed without it is the real one. Nothing in the app sets it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

KINDS = ("oom", "nan", "hang", "crash", "disk_full")
FAULT_VARIABLE = "LORA_STUDIO_FAULT"


class FaultError(ValueError):
    """A malformed drill."""


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


def fault_from_environment(environ: Mapping[str, str] | None = None) -> Fault | None:
    """The drill ``LORA_STUDIO_FAULT`` names, if any (a malformed one raises FaultError)."""
    return parse_fault((os.environ if environ is None else environ).get(FAULT_VARIABLE, "").strip())
