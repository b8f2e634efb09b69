"""CUDA graphs for short training steps: each forward and backward replayed by the GPU
in one launch instead of queued kernel by kernel from Python.

Why: a step of the app's defaults (batch 4 of short instruction rows, ~800 real tokens)
on a 1B model is ~4,000 small kernels whose launches and Python take ~140 ms on an H200
while the matmuls need ~10 (docs/benchmarks.md). torch.compile removes part of that but
costs a minute before the first step, longer than such a job. A CUDA graph removes
nearly all of it for the cost of one capture (well under a second) per row length.

So packed rows (engine.data_prep.PackedCollator with ``bucketed``) come in a few lengths
(a ladder, each ~1.25x the last), and each length's forward and backward is captured
once, with ``torch.cuda.make_graphed_callables``, the second time a length is seen
(lengths seen once run eagerly: a capture would cost more than it saves). All captures
share one memory pool: a step's forward and backward always finish before the next
step's start, so they never need their scratch memory at once.

What a graph needs, and the fast path ensures before it asks for graphs
(engine.fast_path): packed rows through the flash varlen attention (its sequence starts
are a tensor input, the longest sequence the bucket's length), one process, no
checkpointed layer (its recompute saves and restores the RNG state, which a capture
cannot), no compiled layer, and no gradient accumulation: the parameter gradients a
graph returns live in its memory, and autograd adopts them as ``.grad`` when a
parameter has none, so a second micro-step would add a graph's gradient to itself.
Anything else about a batch (a key this module does not know, eval mode) runs eagerly,
and a capture that fails turns graphs off for the rest of the run with a note in the
log: never a failed run.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

log = logging.getLogger(__name__)

# The batch keys a packed row through the varlen attention carries (engine.data_prep).
ROW_KEYS = frozenset({"input_ids", "labels", "position_ids", "cu_seq_lens_q", "cu_seq_lens_k",
                      "max_length_q", "max_length_k"})
SIGHTINGS_BEFORE_CAPTURE = 2


@dataclass
class GraphStats:
    shapes: int = 0  # row shapes captured
    capture_s: float = 0.0
    replayed: int = 0  # micro-steps a graph ran
    eager: int = 0  # training micro-steps that ran eagerly (a shape seen once, or graphs off)
    off_reason: str = ""  # why graphs stopped, if they did

    def describe(self) -> str:
        text = (f"CUDA graphs: {self.replayed} of {self.replayed + self.eager} steps replayed, "
                f"{self.shapes} row shape(s) captured in {self.capture_s:.1f} s")
        return f"{text}; turned off: {self.off_reason}" if self.off_reason else text


@dataclass
class StepGraphs:
    """The training loss of a packed row through a captured graph, or None: run it eagerly."""
    sightings: int = SIGHTINGS_BEFORE_CAPTURE
    stats: GraphStats = field(default_factory=GraphStats)
    _graphs: dict[tuple, Callable[..., torch.Tensor]] = field(default_factory=dict)
    _seen: Counter = field(default_factory=Counter)
    _pool: Any = None  # torch.cuda.graph_pool_handle(), shared by every capture

    def loss(self, model, inputs: dict, num_items_in_batch=None) -> torch.Tensor | None:
        key = None if self.stats.off_reason else row_key(inputs, num_items_in_batch)
        if key is None:
            self.stats.eager += 1
            return None
        self._seen[key] += 1
        graphed = self._graphs.get(key)
        args = _arguments(inputs, num_items_in_batch)
        if graphed is None:
            if self._seen[key] < self.sightings:
                self.stats.eager += 1
                return None
            graphed = self._capture(model, key, args)
            if graphed is None:
                self.stats.eager += 1
                return None
        self.stats.replayed += 1
        return graphed(*args)

    def _capture(self, model, key: tuple, args: tuple[torch.Tensor, ...]) -> Callable[..., torch.Tensor] | None:
        started = time.perf_counter()
        # make_graphed_callables warms up on a side stream, so autograd's gradient accumulators
        # for the adapter remember that stream and note each later backward on the main one; the
        # replays stay correct (scripts/check_step_graphs.py), and the note would fill the log.
        warnings.filterwarnings("ignore", message="The AccumulateGrad node's stream does not match")
        try:
            if self._pool is None:
                self._pool = torch.cuda.graph_pool_handle()
            step = _PackedLoss(model, longest=key[0])
            # The caching allocator keeps blocks per stream: without these, the eager steps' cached
            # blocks, the side-stream warm-up's and the graphs' pool would each hold a step's
            # activations (8B short rows on an H200: 45.8 GiB peak against the plain path's 38.3).
            torch.cuda.empty_cache()
            graphed: Callable[..., torch.Tensor] = torch.cuda.make_graphed_callables(  # type: ignore[assignment]
                step, args, num_warmup_iters=1, allow_unused_input=True, pool=self._pool)  # the module, its forward graphed
            torch.cuda.empty_cache()
        except Exception as exc:  # noqa: BLE001 - any capture failure means eager steps, never a failed run
            self.stats.off_reason = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("CUDA graph capture of a %d-token row failed; the rest of the run is eager: %s",
                        key[0], self.stats.off_reason)
            if torch.cuda.is_available():
                torch.cuda.synchronize()  # whatever the failed capture queued ends before eager steps go on
            return None
        self.stats.shapes += 1
        self.stats.capture_s += time.perf_counter() - started
        self._graphs[key] = graphed
        return graphed


def row_key(inputs: dict, num_items_in_batch=None) -> tuple | None:
    """What a graph is captured for: (row length, sequences in it, with a token count), or
    None for a batch no graph takes (padded rows, several rows, unknown keys)."""
    ids, starts = inputs.get("input_ids"), inputs.get("cu_seq_lens_q")
    if ids is None or starts is None or not set(inputs) <= ROW_KEYS or ids.dim() != 2 or ids.shape[0] != 1:
        return None
    if "labels" not in inputs or "position_ids" not in inputs:
        return None
    if num_items_in_batch is not None and not isinstance(num_items_in_batch, (int, torch.Tensor)):
        return None
    return int(ids.shape[1]), int(starts.shape[0]), num_items_in_batch is not None


def _arguments(inputs: dict, num_items_in_batch) -> tuple[torch.Tensor, ...]:
    args = (inputs["input_ids"], inputs["position_ids"], inputs["labels"], inputs["cu_seq_lens_q"])
    if num_items_in_batch is None:
        return args
    items = torch.as_tensor(num_items_in_batch, dtype=torch.int64)
    return (*args, items.to(inputs["input_ids"].device, non_blocking=True))


class _PackedLoss(torch.nn.Module):
    """The model's loss on one packed row, from tensors alone (what a graph can take): the
    longest sequence is the row's length, an upper bound the varlen kernel accepts."""

    def __init__(self, model, longest: int):
        super().__init__()
        self.model = model
        self.longest = longest

    def forward(self, input_ids, position_ids, labels, starts, items=None):
        extra = {} if items is None else {"num_items_in_batch": items}
        return self.model(input_ids=input_ids, position_ids=position_ids, labels=labels, cu_seq_lens_q=starts,
                          cu_seq_lens_k=starts, max_length_q=self.longest, max_length_k=self.longest,
                          use_cache=False, **extra).loss
