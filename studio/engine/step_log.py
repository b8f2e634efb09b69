"""Each step's loss, gradient norm and finiteness, read off the GPU without waiting for it.

Why: reading a CUDA number on the host (``.item()``, ``bool(tensor)``) waits until the GPU has
run everything queued. The Trainer does that at every step it logs (the app logs every step
for its live chart), the loss guard did it before every backward, and the Trainer's own NaN
filter after it. After each wait the GPU idles while Python prepares the next step: the
optimizer's launches, the callbacks, the next batch. That matters where steps are short: a
graphed 1B step of the default job went from 39 to 30-33 ms on an H200; a long 8B step did
not move (docs/benchmarks.md, "Fifth run").

So on the GPU the step's numbers are copied to pinned host memory with ``non_blocking`` and
an event marks when they land; they are reported once the event has passed, usually a step
later, and always before an evaluation, a checkpoint or the end of training (``ready(wait=
True)``). On the CPU nothing runs ahead, so they are ready at once. ``hold`` keeps the last
few back regardless, which lets the CPU tests walk the same lagging paths the GPU takes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class StepNumbers:
    step: int
    epoch: float
    learning_rate: float
    loss: float  # the step's loss, as the Trainer sums it over micro-batches
    grad_norm: float | None
    finite: bool  # the loss was finite (else the optimizer skipped this update)


@dataclass
class _Pending:
    meta: dict[str, Any]
    host: torch.Tensor
    event: Any  # torch.cuda.Event, or None on the CPU


class LaggedSteps:
    def __init__(self, hold: int = 0):
        self.hold = hold
        self._pending: deque[_Pending] = deque()

    def push(self, *, step: int, epoch: float, learning_rate: float, loss: torch.Tensor,
             grad_norm: torch.Tensor | float | None, finite: torch.Tensor) -> None:
        """Queue this step's numbers: a copy to the host that the GPU makes when it gets there."""
        norm = grad_norm if isinstance(grad_norm, torch.Tensor) else torch.tensor(
            math.nan if grad_norm is None else float(grad_norm), device=loss.device)
        values = torch.stack([loss.detach().float().reshape(()), norm.detach().float().reshape(()).to(loss.device),
                              finite.detach().float().reshape(())])
        event = None
        if values.is_cuda:
            host = torch.empty(3, dtype=torch.float32, pin_memory=True)
            host.copy_(values, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        else:
            host = values.clone()
        meta = {"step": step, "epoch": epoch, "learning_rate": learning_rate, "has_norm": grad_norm is not None}
        self._pending.append(_Pending(meta, host, event))

    def ready(self, wait: bool = False) -> list[StepNumbers]:
        """The queued steps whose numbers have landed, oldest first; with ``wait``, all of them."""
        out = []
        while self._pending and (wait or (len(self._pending) > self.hold and _landed(self._pending[0]))):
            pending = self._pending.popleft()
            if pending.event is not None:
                pending.event.synchronize()
            loss, norm, finite = (float(v) for v in pending.host.tolist())
            meta = pending.meta
            out.append(StepNumbers(step=meta["step"], epoch=meta["epoch"], learning_rate=meta["learning_rate"],
                                   loss=loss, grad_norm=norm if meta["has_norm"] else None,
                                   finite=finite > 0.5))
        return out

    def __len__(self) -> int:
        return len(self._pending)


def _landed(pending: _Pending) -> bool:
    return pending.event is None or bool(pending.event.query())
