"""What a training run evaluates on: how many of its held-out rows, and in what order.

Sized for the job (issue 20): a 5-step trial on a CPU spent longer evaluating 100 held-out
rows (123 s) than training (102 s). A forward pass over a row costs a third to a half of a
training step's work on it, so a run now evaluates at most as many rows as it trains on
(``steps x batch x accumulation x processes``, at least ``MIN_ROWS``): each evaluation costs at
most about half its training (measured: 20 rows in 10 s after 5 steps of 4 rows in 21 s,
docs/benchmarks.md). Long runs are bounded by ``dataset.eval_max_rows`` (200
unless set) long before this, so only short trials evaluate fewer rows than before; the rule
depends on the job alone, never on the machine, so a job measures the same rows on a CPU and a
GPU. ``dataset.eval_max_rows = 0`` still means every held-out row.

The rows are a spread sample of the held-out ones (core.datasets.evaluation_sample), taken
longest first: batches of like lengths carry little padding, and a batch too big for the
memory fails as the evaluation starts, not at its end. The eval loss is their token-weighted mean
(GuardedTrainer), so neither the order nor the batch size changes the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.core.datasets import evaluation_sample
from studio.core.jobs import TrainJob

MIN_ROWS = 16  # the fewest rows a job-sized evaluation takes: a loss worth printing for a 1-step run


@dataclass(frozen=True)
class EvalPlan:
    dataset: Any  # the rows to evaluate (a datasets.Dataset, longest first), or None: no evaluation
    rows: int  # how many
    held_out: int  # rows the split held out
    bound: str  # what set the count, for the log

    def describe(self) -> str:
        """E.g. "20 of 100 held-out rows (as many as the run trains on: 5 steps of 4 rows)"."""
        return f"{self.rows} of {self.held_out} held-out rows ({self.bound})"


def trained_rows(job: TrainJob, steps: int, processes: int = 1) -> int:
    """The rows a run of ``steps`` optimizer steps trains on."""
    tr = job.training
    return steps * tr.batch_size * tr.grad_accum * max(1, processes)


def plan(prepared_eval, held_out: int, job: TrainJob, steps: int, processes: int = 1) -> EvalPlan:
    """The rows of ``prepared_eval`` (tokenized, at most ``dataset.eval_max_rows`` of the
    ``held_out`` rows) this run evaluates, longest first."""
    if prepared_eval is None or len(prepared_eval) == 0:
        return EvalPlan(None, 0, held_out, "nothing held out")
    limit = job.dataset.eval_max_rows
    available = len(prepared_eval)
    trained = trained_rows(job, steps, processes)
    sized = max(MIN_ROWS, trained) if limit > 0 else available
    keep = evaluation_sample(range(available), sized)
    tr = job.training
    if len(keep) < available:
        accumulation = f" x {tr.grad_accum}" if tr.grad_accum > 1 else ""
        per_process = f" on each of {processes} processes" if processes > 1 else ""
        bound = (f"as many as the run trains on: {steps} step{'s' if steps != 1 else ''} of {tr.batch_size}"
                 f"{accumulation} rows{per_process}" if trained >= MIN_ROWS else
                 f"a job this short evaluates {MIN_ROWS} rows")
    elif limit > 0 and held_out > limit:
        bound = f"at most dataset.eval_max_rows = {limit}"
    elif available == held_out:
        bound = "all of them"
    else:
        bound = "all with a token to learn left after truncation"
    lengths = [len(ids) for ids in prepared_eval.select(keep)["input_ids"]]
    order = [keep[i] for i in sorted(range(len(keep)), key=lambda i: -lengths[i])]
    return EvalPlan(prepared_eval.select(order), len(order), held_out, bound)
