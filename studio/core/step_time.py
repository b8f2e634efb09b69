"""How long one training step and a whole job will take, before the job starts.

Why: with the app's defaults (batch 4 of short instruction rows, a few hundred real tokens
a step) a big GPU spends most of each step waiting for the host: on an H200 a 1B Llama step
takes ~126 ms of which the matmuls need ~10. The Train page and ``lora-studio train`` offer
a batch that fills the card (core.batch_advice), and they need the time before and after.

The model has two parts and takes about the longer of them, since the CPU queues kernels
while the GPU runs earlier ones:

* overhead, per micro-step: a fixed part (loss, optimizer, data) and a part per decoder
  layer (Python, kernel launches, LoRA's small kernels); torch.compile'd layers launch fewer
  kernels; CUDA graphs launch none from Python, leaving the GPU's own time on small kernels; 4-bit weights add their dequantisation kernels; a checkpointed layer launches its
  forward twice;
* compute: 4 x the parameters of the matmuls on the path (the decoder's linear layers and
  the lm_head: forward, plus the backward's input gradients; the frozen base needs no
  weight gradients) + 6 x the LoRA parameters, per real token, over the GPU's achieved
  bf16 rate; eager layers also run the pointwise work inductor fuses (x1.5); a
  checkpointed layer runs its forward again (+2 x its parameters).

step = (overhead^3 + compute^3)^(1/3). A plain sum (compute after overhead) misses the
large-step points by 8% and implies a higher rate; the cube-root blend fits all seven.

Calibrated to the app's own runs on one H200 (random-weight Llama shapes, LoRA r=16 on every
linear layer; ../shared/GPU_NOTES.md and issue 18): 1B (16 layers) at ~490 real tokens a
step, 126 ms eager and 93 ms compiled; 1B at 8 x 2048, 356 and 237 ms; 8B (32 layers) at
4 x 2048 compiled, 736 ms; 8B QLoRA at ~490 tokens, 0.50 s eager and 0.34 s compiled; with CUDA graphs, 1B at ~490
tokens ~30 ms, 8B ~87 ms and 8B QLoRA ~105 ms (2026-12-03, docs/benchmarks.md).
tests/core/test_step_time.py checks every point. Only the H200's rate and the overheads
(measured with the H200 machine's CPU) come from measurements; the other GPUs' rates are
estimates (below).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from studio.core import methods
from studio.core.presets import count_adapter_parameters, linear_shapes, num_layers

OVERHEAD_BASE_S = 0.010  # per micro-step outside the layers: loss, optimizer, data (assumed; the fit can't separate it)
# Fitted: 1B short rows, 126 ms eager vs 93 compiled; CUDA graphs (engine.step_graphs), what is left
# of a layer's overhead is the GPU's own time on its small kernels: 1B ~30 ms and 8B ~87 ms a step.
OVERHEAD_PER_LAYER_S = {"eager": 7.2e-3, "compiled": 5.2e-3, "graphed": 1.6e-3}
# 4-bit NF4 on top: 8B QLoRA, 0.50 s eager vs 0.34 compiled vs ~0.105 graphed.
DEQUANT_PER_LAYER_S = {"eager": 8.1e-3, "compiled": 5.1e-3, "graphed": 1.1e-3}
# A graphed step's packed row is padded to a ladder of lengths (engine.data_prep.bucket_length):
# 0-25% filler tokens, ~12% on average, computed like real ones.
GRAPH_FILLER = 1.12
RECOMPUTE_OVERHEAD_SHARE = 1 / 3  # a checkpointed layer launches its forward again (estimate, not measured)
EAGER_COMPUTE_FACTOR = 1.5  # eager 1B 8 x 2048 steps are 1.5x the compiled ones: unfused pointwise work
OVERLAP_POWER = 3  # how sharply the longer of overhead and compute takes over (fitted: 2 to 6 all within 4%)


@dataclass(frozen=True)
class GpuRate:
    pattern: str  # a model number as NVML names it, e.g. "H200" in "NVIDIA H200"
    flops: float  # achieved with compiled layers, counted as the module docstring says
    bf16: bool  # False: fp16 only (no bf16 tensor cores), so compile = auto never compiles
    source: str


# Achieved rates by this module's count (4N + 6 LoRA per token). The H200 is fitted to the
# calibration points (348 and 337 TFLOP/s from the two compiled large steps: 35% of its
# 989 dense bf16 peak). The others: 35% of the card's dense bf16 (fp16 for T4/V100) peak.
GPU_RATES: tuple[GpuRate, ...] = (
    GpuRate("H200", 345e12, True, "measured: the calibration points above"),
    GpuRate("GH200", 345e12, True, "estimate: the H200's chip"),
    GpuRate("H100", 300e12, True, "estimate: the H200's chip with less memory bandwidth; an H100 run of "
                                  "an older code path (1B, 8 x 2048, compiled, no Liger) gave ~250"),
    GpuRate("B200", 700e12, True, "estimate: 35% of its dense bf16 peak"),
    GpuRate("A100", 110e12, True, "estimate: 35% of 312 TFLOP/s"),
    GpuRate("L40S", 125e12, True, "estimate: 35% of 362 TFLOP/s"),
    GpuRate("L40", 63e12, True, "estimate: 35% of 181 TFLOP/s"),
    GpuRate("A6000", 55e12, True, "estimate: 35% of 155 TFLOP/s"),
    GpuRate("A40", 52e12, True, "estimate: 35% of 150 TFLOP/s"),
    GpuRate("A10G", 25e12, True, "estimate: 35% of 70 TFLOP/s"),
    GpuRate("A10", 44e12, True, "estimate: 35% of 125 TFLOP/s"),
    GpuRate("L4", 42e12, True, "estimate: 35% of 121 TFLOP/s"),
    GpuRate("5090", 73e12, True, "estimate: 35% of 209 TFLOP/s"),
    GpuRate("4090", 58e12, True, "estimate: 35% of 165 TFLOP/s (fp32 accumulation)"),
    GpuRate("4080", 34e12, True, "estimate: 35% of 97 TFLOP/s"),
    GpuRate("4060", 11e12, True, "estimate: 35% of 30 TFLOP/s"),
    GpuRate("3090", 25e12, True, "estimate: 35% of 71 TFLOP/s"),
    GpuRate("3060", 9e12, True, "estimate: 35% of 25 TFLOP/s"),
    GpuRate("V100", 40e12, False, "estimate: 35% of 112 TFLOP/s fp16"),
    GpuRate("T4", 20e12, False, "estimate: 35% of 65 TFLOP/s fp16"),
)


def gpu_rate(name: str | None) -> GpuRate | None:
    """The rate of the GPU ``name`` (NVML's name, or a label such as "24 GiB (RTX 3090/4090, A10, L4)":
    a label naming several takes the slowest, so a tip never promises more than the weakest
    card). None for a name the table lacks: nothing is predicted for it."""
    if not name:
        return None
    text = name.upper()
    found = [r for r in GPU_RATES if re.search(rf"(?<![A-Z0-9]){r.pattern}(?![A-Z0-9])", text)]
    return min(found, key=lambda r: r.flops) if found else None


@dataclass(frozen=True)
class StepTime:
    overhead_s: float
    compute_s: float

    @property
    def seconds(self) -> float:
        return (self.overhead_s ** OVERLAP_POWER + self.compute_s ** OVERLAP_POWER) ** (1 / OVERLAP_POWER)

    @property
    def busy(self) -> float:
        """The share of the step the GPU computes: low means the step is mostly overhead."""
        return self.compute_s / self.seconds if self.seconds else 0.0


def matmul_parameters(config: dict[str, Any]) -> tuple[int, int] | None:
    """(parameters of the decoder's linear layers, of the lm_head), from config.json alone;
    None for an architecture whose layer shapes are unknown."""
    shapes = linear_shapes(config)
    hidden, vocab = int(config.get("hidden_size") or 0), int(config.get("vocab_size") or 0)
    if shapes is None or not hidden or not vocab:
        return None
    return num_layers(config) * sum(i * o for i, o in shapes.values()), hidden * vocab


def predict_step(config: dict[str, Any], tokens: float, gpu_name: str | None, *, compiled: bool = False,
                 graphed: bool = False, quantized: bool = False, lora_parameters: int = 0,
                 checkpointed_layers: int = 0) -> StepTime | None:
    """One micro-step of ``tokens`` real tokens on ``gpu_name``, its layers eager, compiled or
    replayed as CUDA graphs (eager kernels, launched at once); None for an unknown GPU or model."""
    rate, params = gpu_rate(gpu_name), matmul_parameters(config)
    if rate is None or params is None:
        return None
    layers = num_layers(config)
    decoder, head = params
    mode = "compiled" if compiled else "graphed" if graphed else "eager"
    checkpointed = max(0, min(layers, checkpointed_layers))
    per_layer = OVERHEAD_PER_LAYER_S[mode] + (DEQUANT_PER_LAYER_S[mode] if quantized else 0.0)
    overhead = OVERHEAD_BASE_S + per_layer * (layers + RECOMPUTE_OVERHEAD_SHARE * checkpointed)
    flops = (4 * (decoder + head) + 2 * decoder * checkpointed / max(1, layers) + 6 * lora_parameters) * tokens
    compute = flops / rate.flops * (1.0 if compiled else EAGER_COMPUTE_FACTOR)
    return StepTime(overhead, compute)


def graphs_faster(config: dict[str, Any], tokens: float, gpu_name: str | None, *, quantized: bool = False,
                  lora_parameters: int = 0) -> bool:
    """Whether CUDA graphs of these steps (their launches gone, their filler computed) beat
    launching them eagerly; False where nothing is predicted (an unknown GPU or model)."""
    eager = predict_step(config, tokens, gpu_name, quantized=quantized, lora_parameters=lora_parameters)
    graphed = predict_step(config, tokens * GRAPH_FILLER, gpu_name, graphed=True, quantized=quantized,
                           lora_parameters=lora_parameters)
    return eager is not None and graphed is not None and graphed.seconds < eager.seconds


def graphs_wanted(job: Any, faster: bool) -> bool:
    """Whether the job's settings let its steps be CUDA graphs (the fast path, one micro-step an
    update, layers not compiled, a method whose record allows them) and ask for them:
    ``cuda_graphs = on``, or ``auto`` where ``graphs_faster``. The engine (engine.fast_path) and
    the batch advice both ask this; each adds what it knows of the machine."""
    training = job.training
    # bitsandbytes' 8-bit matmul invalidates a stream capture (the H200 run in docs/benchmarks.md,
    # "Tuners on quantized bases"): its steps would only try once and run eagerly.
    return (methods.tuner(job.lora.tuner).cuda_graphs and training.fast_path and training.grad_accum == 1
            and job.model.quantization != "8bit"
            and training.compile != "on"
            and (training.cuda_graphs == "on" or (training.cuda_graphs == "auto" and faster)))


def graphs_expected(job: Any, config: dict[str, Any], gpu_name: str | None, tokens: float | None,
                    checkpointed: int = 0) -> bool:
    """Whether ``job``'s steps of ``tokens`` real tokens will be CUDA graphs on the GPU
    ``gpu_name``, as engine.fast_path.choose decides: a card with bf16 (the flash varlen
    kernel's), no checkpointed layer, and ``graphs_wanted``. ``tokens`` None (no dataset
    statistics yet): only where the job asks for graphs outright."""
    rate = gpu_rate(gpu_name)
    if checkpointed or rate is None or not rate.bf16:
        return False
    lora = job.lora
    faster = tokens is not None and graphs_faster(
        config, tokens, gpu_name, quantized=job.model.quantization == "4bit",
        lora_parameters=count_adapter_parameters(config, lora) or 0)
    return graphs_wanted(job, faster)


def mean_row_tokens(lengths: Sequence[int], max_length: int) -> float:
    """Mean real tokens of a row after truncation to ``max_length``."""
    return sum(min(n, max_length) for n in lengths) / len(lengths) if lengths else 0.0


def tokens_per_step(mean_tokens: float, batch_size: int) -> float:
    """Real tokens in one micro-step (padding, where the plain path pads, is left out: steps of
    short rows are overhead-bound either way)."""
    return mean_tokens * batch_size


def optimizer_steps(train_rows: int, batch_size: int, grad_accum: int, epochs: float, processes: int = 1) -> int:
    """Optimizer steps of a job run by epochs: each takes batch x accumulation rows on every
    process, at least one an epoch. The one count the engine runs, the estimate predicts and
    the magnitude check judges (an infinite count is core.magnitudes' to refuse: it raises here)."""
    per_epoch = max(1, math.ceil(train_rows / max(1, batch_size) / max(1, grad_accum) / max(1, processes)))
    return max(1, math.ceil(per_epoch * epochs))


def job_seconds(steps: int, step_s: float, compile_s: float = 0.0) -> float:
    """The steps' part of a job (start, load, eval and save come on top); ``compile_s`` when
    the layers compile before the first step."""
    return steps * step_s + compile_s
