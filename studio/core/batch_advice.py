"""A larger batch for a job that leaves most of the GPU idle: offered, never applied.

Short rows at batch 4 make steps of a few hundred tokens, and on a big card such a step
is mostly per-step overhead (core.step_time). The same epochs in fewer, fuller steps
train the same rows in a fraction of the time. This module finds the batch that saves the
most, within what the memory estimate says fits (the Train page's own check), and words
it; the Train page shows it with a button and ``lora-studio train`` prints it as a tip.
The user decides: a larger batch changes the optimisation (fewer updates), so the advice
says so and suggests the square-root learning-rate rule that usually goes with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from studio.core import compile_choice, launch_plan, step_time, vram
from studio.core.datasets import split_sizes
from studio.core.jobs import TrainJob
from studio.core.presets import count_adapter_parameters, num_layers
from studio.core.throughput import seconds_words

IDLE_BUSY = 0.5  # below this share of compute in a step, overhead is most of it: the GPU is mostly idle
MAX_BATCH = 64  # larger batches of short rows gain little more and leave few optimizer steps
MIN_STEPS = 10  # a schedule (warmup, decay) needs some steps: no batch that leaves fewer
MIN_SAVING_S = 5.0  # a tip for less than this is noise next to the ~25 s every job costs anyway
MIN_SAVING_SHARE = 0.2  # ... or for less than this share of the steps' time
NEAR_BEST = 0.9  # the smallest batch that saves this share of the best saving: more updates, same time


@dataclass(frozen=True)
class BatchAdvice:
    batch_size: int
    current_batch: int
    epochs: float
    steps_before: int
    steps_after: int
    seconds_before: float
    seconds_after: float
    tokens_per_step: float  # today's
    busy: float  # today's share of each step the GPU computes
    learning_rate: float  # today's
    suggested_learning_rate: float

    @property
    def edits(self) -> dict[str, Any]:
        """What "Use batch N" changes: the batch only; the learning rate stays the user's call."""
        return {"training.batch_size": self.batch_size}

    @property
    def lr_factor(self) -> float:
        return self.batch_size / self.current_batch

    def _epochs(self) -> str:
        return f"{self.epochs:g} epoch{'s' * (self.epochs != 1)}"

    def _lr(self) -> str:
        return (f"try {_sci(self.learning_rate)} x sqrt({self.lr_factor:g}) ≈ "
                f"{_sci(self.suggested_learning_rate)}")

    def sentence(self) -> str:
        return (f"The GPU will be mostly idle (~{self.busy:.0%} busy): ~{_tokens(self.tokens_per_step)} tokens "
                f"a step. Batch {self.batch_size} (same {self._epochs()}: {self.steps_after:,} steps instead of "
                f"{self.steps_before:,}) would take ~{seconds_words(self.seconds_after)} instead of "
                f"~{seconds_words(self.seconds_before)} of steps. Larger batches usually want a larger learning rate: "
                f"{self._lr()}.")

    def short(self) -> str:
        """The same in fewer words, for the Train page's narrow panel (the sentence is its tooltip)."""
        return (f"Idle GPU: batch {self.batch_size} takes ~{seconds_words(self.seconds_after)}, not "
                f"~{seconds_words(self.seconds_before)} (lr ≈ {_sci(self.suggested_learning_rate)}?)")


def advise(job: TrainJob, config: dict[str, Any], *, gpu_name: str | None, capacity_bytes: int | None,
           rows: int, mean_tokens: float, num_parameters: int | None = None) -> BatchAdvice | None:
    """A larger batch for ``job`` on the GPU ``gpu_name`` of ``capacity_bytes``, given the
    dataset's ``rows`` and mean real tokens a row (after truncation); None when the GPU is
    busy enough already, nothing fits or saves enough, or the job is one this can't predict
    (CPU, an unknown GPU, several processes, a step count fixed by ``max_steps``, 8-bit or
    fp32 weights)."""
    tr = job.training
    dist = job.distributed
    if (tr.device == "cpu" or not capacity_bytes or step_time.gpu_rate(gpu_name) is None or rows <= 0
            or mean_tokens <= 0 or len(dist.gpus) > 1 or dist.cpu_processes > 1 or dist.nnodes > 1
            or tr.max_steps > 0 or tr.resume_from or job.model.quantization == "8bit" or tr.precision == "fp32"):
        return None
    try:
        train_rows = split_sizes(min(rows, job.dataset.max_rows or rows), job.dataset.eval_fraction)[0]
    except ValueError:
        return None
    budget = vram.budget_bytes(job, capacity_bytes)
    predict = _Predictor(job, config, gpu_name, budget, train_rows, mean_tokens, num_parameters)
    try:
        if launch_plan.per_gpu_estimate(job, config, num_parameters, capacity_bytes,
                                        graphs=predict.graphs_at(tr.batch_size))[0].total > capacity_bytes:
            return None  # the memory panel offers smaller jobs first
        before = predict(tr.batch_size)
    except vram.EstimateError:
        return None
    if before is None or before.step.busy >= IDLE_BUSY:
        return None
    timed = []
    batch = 1 << tr.batch_size.bit_length()  # the next power of two above today's
    while batch <= min(MAX_BATCH, train_rows):
        after = predict(batch) if predict.fits(batch) else None
        if after is None or after.steps < MIN_STEPS:
            break  # a larger batch fits no better and leaves even fewer steps
        timed.append(after)
        batch *= 2
    if not timed:
        return None
    best = max(before.seconds - t.seconds for t in timed)
    if best <= 0:
        return None  # every larger batch is slower (its steps too large for CUDA graphs on this card)
    chosen = next(t for t in timed if before.seconds - t.seconds >= NEAR_BEST * best)
    saving = before.seconds - chosen.seconds
    if saving < MIN_SAVING_S or saving < MIN_SAVING_SHARE * before.seconds:
        return None
    return BatchAdvice(chosen.batch, tr.batch_size, tr.epochs, before.steps, chosen.steps, before.seconds,
                       chosen.seconds, before.tokens, before.step.busy, tr.learning_rate,
                       tr.learning_rate * math.sqrt(chosen.batch / tr.batch_size))


@dataclass(frozen=True)
class _Timed:
    batch: int
    steps: int
    tokens: float
    step: step_time.StepTime
    seconds: float


class _Predictor:
    """The job at another batch size: its steps, step time and whether it fits."""

    def __init__(self, job: TrainJob, config: dict[str, Any], gpu_name: str | None, budget: int, train_rows: int,
                 mean_tokens: float, num_parameters: int | None):
        self.job, self.config, self.gpu_name, self.budget = job, config, gpu_name, budget
        self.train_rows, self.mean_tokens, self.num_parameters = train_rows, mean_tokens, num_parameters
        lora = job.lora
        self.lora_parameters = count_adapter_parameters(config, lora) or 0
        self.layer_parameters = compile_choice.layer_parameters(config)
        # By batch: fits() and the prediction both ask.
        self._graphed: dict[int, bool] = {}
        self._recomputed: dict[int, int] = {}

    def at(self, batch: int) -> TrainJob:
        return replace(self.job, training=replace(self.job.training, batch_size=batch))

    def fits(self, batch: int) -> bool:
        job = self.at(batch)
        return launch_plan.per_gpu_estimate(job, self.config, self.num_parameters, None,
                                            graphs=self.graphs_at(batch))[0].total <= self.budget

    def graphs_at(self, batch: int) -> bool:
        """Whether the run's steps will be CUDA graphs at ``batch``: expected, and their pool fits."""
        if batch not in self._graphed:
            tokens = step_time.tokens_per_step(self.mean_tokens, batch)
            self._graphed[batch] = (
                step_time.graphs_expected(self.job, self.config, self.gpu_name, tokens, self._checkpointed(batch))
                and vram.graphs_fit(self.at(batch), self.config, self.budget, num_parameters=self.num_parameters))
        return self._graphed[batch]

    def __call__(self, batch: int) -> _Timed | None:
        tr = self.job.training
        steps = step_time.optimizer_steps(self.train_rows, batch, tr.grad_accum, tr.epochs)
        tokens = step_time.tokens_per_step(self.mean_tokens, batch)
        checkpointed = self._checkpointed(batch)
        graphed = self.graphs_at(batch)
        compiled = not graphed and self._compiles(steps * tr.grad_accum, tokens)
        step = step_time.predict_step(self.config, tokens * (step_time.GRAPH_FILLER if graphed else 1.0),
                                      self.gpu_name, compiled=compiled, graphed=graphed,
                                      quantized=self.job.model.quantization == "4bit",
                                      lora_parameters=self.lora_parameters, checkpointed_layers=checkpointed)
        if step is None:
            return None
        compile_s = compile_choice.COMPILE_SECONDS["cold"] if compiled else 0.0
        seconds = step_time.job_seconds(steps, tr.grad_accum * step.seconds, compile_s)
        return _Timed(batch, steps, tokens, step, seconds)

    def _checkpointed(self, batch: int) -> int:
        """Layers the run will recompute: on the GPU fast path only as many as the memory needs."""
        tr = self.job.training
        if not tr.gradient_checkpointing:
            return 0
        if not tr.fast_path:
            return num_layers(self.config)
        if batch not in self._recomputed:
            self._recomputed[batch] = vram.checkpointed_layers_needed(self.at(batch), self.config, self.budget,
                                                                      num_parameters=self.num_parameters)
        return self._recomputed[batch]

    def _compiles(self, micro_steps: int, tokens: float) -> bool:
        """Whether the run's layers will be compiled, as engine.fast_path.choose decides
        (with a cold compile cache: the first run of a model)."""
        tr, rate = self.job.training, step_time.gpu_rate(self.gpu_name)
        if not tr.fast_path or tr.offload_activations or tr.compile == "off":
            return False
        if tr.compile == "on":
            return True
        if rate is None or not compile_choice.measured_faster(rate.bf16, 1, self.job.lora,
                                                              self.job.model.quantization, kernels=True):
            return False
        return compile_choice.choose(micro_steps, num_layers(self.config), self.layer_parameters, tokens, warm=False,
                                     quantized=self.job.model.quantization == "4bit").compile


def _sci(value: float) -> str:
    """2e-4, 5.7e-4: a learning rate as people write it."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def _tokens(n: float) -> str:
    return f"{float(f'{n:.2g}'):,.0f}" if n >= 100 else f"{n:.0f}"
