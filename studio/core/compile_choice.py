"""Whether ``training.compile = auto`` compiles: only where the job pays the compile back.

torch.compile of the decoder layers makes each step cheaper (fewer kernels, less Python),
but compiling costs a fixed time before the first step: on an H200 69 s with empty caches
and 45 s with inductor's cache warm (1B Llama shape, one graph for every layer; 96 s and
47 s while the first layer had a graph of its own). A 225-step job of short rows saves
~68 ms a step, 15 s in all, and waited twice as long as without compile
(docs/benchmarks.md, the job benchmark). So the choice weighs the job's predicted
micro-steps times the predicted saving per step against the predicted compile time, cold
or warm by whether this home's cache has compiled the same layers before
(``<home>/cache/compiled.json``, written after each compiled run).

The saving per micro-step is per decoder layer: a fixed part (launches and Python the
compiled graph removes, ~5 ms a layer on an H200 whatever the step's size) plus a part
that grows with the step's work (fused norms, RoPE, SwiGLU and LoRA's scale-and-add:
fitted to the 8B 4 x 2048 runs, 1.08 s eager vs 0.73 s compiled a step).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from studio.core import atomic, methods, paths
from studio.core.jobs import LoraSettings

# Measured on one H200 (docs/benchmarks.md, job benchmarks): seconds from the training phase to the
# first step, with empty compile caches and with the cache of an earlier run of the same layers.
COMPILE_SECONDS = {"cold": 69.0, "warm": 45.0}
# Per micro-step and decoder layer, the part that does not grow with the step: 1B bf16 short rows,
# 140 ms eager vs 68-76 ms compiled over 16 layers; 8B 4-bit, 0.50 s vs 0.34 s over 32 layers.
SAVED_PER_LAYER_S = {"bf16": 4e-3, "4bit": 5e-3}
SAVED_PER_LAYER_TOKEN_PARAMETER_S = 3.4e-15  # per token x parameter of one layer, from the 8B 4 x 2048 steps
RECORD_NAME = "compiled.json"


@dataclass(frozen=True)
class CompileChoice:
    compile: bool
    reason: str
    saving_s: float = 0.0
    cost_s: float = 0.0


def measured_faster(bf16: bool, processes: int, lora: LoraSettings, quantization: str, kernels: bool) -> bool:
    """Where ``compile = auto`` may compile at all: where compiled layers were measured faster
    on an H200, bf16 LoRA and 4-bit NF4 (bitsandbytes >= 0.50) on one process; not 8-bit, several
    processes, or a method in use whose record says its layers don't compile (DoRA's and the other
    tuners' were not measured faster).
    ``kernels``: Triton (and for 4-bit, that bitsandbytes) is there: inductor's GPU kernels are
    Triton's."""
    return (bf16 and processes == 1 and all(m.compiles for m in methods.records(lora, quantization))
            and quantization in ("none", "4bit") and kernels)


def layer_parameters(config: dict) -> int:
    """Weights of one decoder layer's linear layers, from its config: what the saving's
    token term scales with (the engine and the Train page's advice count them alike; a
    4-bit layer's packed storage would count half)."""
    from studio.core.presets import linear_shapes

    return sum(i * o for i, o in (linear_shapes(config) or {}).values())


def predicted_saving_s(micro_steps: int, layers: int, layer_parameters: int, tokens_per_step: float,
                       quantized: bool = False) -> float:
    fixed = SAVED_PER_LAYER_S["4bit" if quantized else "bf16"]
    return micro_steps * layers * (fixed + SAVED_PER_LAYER_TOKEN_PARAMETER_S * tokens_per_step * layer_parameters)


def choose(micro_steps: int, layers: int, layer_parameters: int, tokens_per_step: float,
           warm: bool, quantized: bool = False) -> CompileChoice:
    """Compile when the predicted saving over the whole job exceeds the compile time."""
    saving = predicted_saving_s(micro_steps, layers, layer_parameters, tokens_per_step, quantized)
    cost = COMPILE_SECONDS["warm" if warm else "cold"]
    cache = "its compiled layers are cached" if warm else "nothing compiled is cached for this model yet"
    if saving > cost:
        return CompileChoice(True, f"compiling: {micro_steps} steps save ~{saving:.0f} s, compiling costs "
                                   f"~{cost:.0f} s ({cache})", saving, cost)
    return CompileChoice(False, f"not compiled: {micro_steps} steps would save ~{saving:.0f} s, compiling costs "
                                f"~{cost:.0f} s ({cache}); training.compile = on compiles anyway", saving, cost)


def record_path() -> Path:
    return paths.cache_dir() / RECORD_NAME


def was_compiled(key: str) -> bool:
    """Whether a run in this home compiled layers of this key (its kernels are in the cache)."""
    try:
        return key in json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def remember(key: str) -> None:
    """After a compiled run: the next one of the same key finds its kernels cached."""
    try:
        known = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    known[key] = time.strftime("%Y-%m-%dT%H:%M:%S")
    try:
        atomic.write_json(record_path(), known)
    except OSError:
        pass  # a read-only or full home: the next run is predicted cold, which is only slower to choose
