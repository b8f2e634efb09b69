"""The GPU fast path: what the engine turns on by itself on an NVIDIA GPU, and why.

* padding-free packing (DataCollatorWithFlattening: one row per batch, position ids
  restarting per example, so attention never crosses examples and no token is padding),
  attended by PyTorch's flash-attention varlen kernel from the sequences' boundaries
  where it runs (engine.varlen_attention), else by SDPA with a per-example mask;
* Liger's fused linear cross-entropy when installed, on padded batches (the batch x
  vocabulary logits tensor is never built), with its RMSNorm/RoPE/SwiGLU kernels unless
  the layers are compiled;
* torch.compile of each decoder layer (one compiled graph serves them all; packed rows,
  whose length changes every step, compile with dynamic shapes): inductor fuses the
  norms, RoPE, SwiGLU and LoRA's dropout/scale/add, keeps fewer activations, and
  launches far fewer kernels, which is what bounds short packed steps;
* CUDA graphs of each packed row length's forward and backward where the steps are short
  (engine.step_graphs): a short step's time is launches and Python, not GPU work, and one
  capture per length costs far less than compiling;
* gradient checkpointing of only as many layers as the memory needs (core.vram's
  estimate against the card or ``training.memory_limit_gib``);
* fused AdamW and TF32 matmuls.
On the CPU (one process), where every token of a step costs its full share of a slow step
and of its memory (issue 20):
* each row its own micro-batch where padding would waste >10%, accumulated into the step
  (the Trainer's gradient accumulation, whose token count keeps the loss the batch's): no
  padding, no packed row's dense mask (the CPU has no varlen kernel), and the activations of
  one row, not of the batch;
* the loss from the labelled positions alone (engine.output_loss: no batch x vocabulary logits);
* LoRA's dropout keeping a 1-byte mask instead of a 4-byte noise tensor (engine.cpu_dropout).
Everything degrades cleanly: no CUDA, no liger, or ``training.fast_path = false`` give
the plain transformers + peft path. The choice is reported in a phase event.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass, replace
from typing import Any

import torch

from studio.core import compile_choice, methods, step_time, vram
from studio.core.jobs import TrainJob
from studio.core.presets import num_layers
from studio.core.vram import FUSED_LOSS_TYPES
from studio.engine import varlen_attention
from studio.engine.hardware import Hardware

# Families whose packed rows keep their examples apart (position ids restart per example and
# transformers masks by them): tests/engine/test_packing_families.py checks each. OPT and Bloom
# take positions from the attention mask instead, and their packed examples see each other.
PACKING_TYPES = frozenset({
    "llama", "gpt2", "gpt_bigcode", "gpt_neox", "falcon", "phi", "phi3", "starcoder2", "mistral", "mixtral",
    "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "granite", "cohere", "smollm3", "exaone"})
PACKING_LEAKS = frozenset({"opt", "bloom"})

# Model families Liger patches (its apply_liger_kernel_to_* functions); core's estimate agrees.
LIGER_TYPES = FUSED_LOSS_TYPES


@dataclass(frozen=True)
class FastPath:
    packing: bool
    liger: bool  # Liger's fused loss; its layer kernels too unless ``compile``
    fused_adamw: bool
    tf32: bool
    compile: bool = False  # each decoder layer torch.compile'd
    checkpointed: int | None = None  # decoder layers checkpointed; None: all, if the job checkpoints
    layers: int = 0
    budget_bytes: int = 0  # what ``checkpointed`` was chosen against
    offload: bool = False  # checkpointed layers keep their inputs in CPU memory
    attention: str = "sdpa"  # or "varlen": packed rows through the flash varlen kernel
    packing_refused: bool = False  # asked for, but this family's packed examples would see each other
    varying_lengths: bool = False  # padded batches of changing length: compile with dynamic shapes at once
    compile_reason: str = ""  # why training.compile = auto did or did not compile
    graphs: bool = False  # packed rows' forward and backward replayed as CUDA graphs (engine.step_graphs)
    rows_apart: bool = False  # CPU: one row a micro-batch, batch_size of them accumulated into each step
    output_loss: bool = False  # CPU: the loss from the labelled positions alone (engine.output_loss)
    compact_dropout: bool = False  # CPU: LoRA dropout keeps a bool mask for its backward (engine.cpu_dropout)

    def describe(self) -> str:
        parts = [f"packing {'padding-free' if self.packing else self._unpacked_text()}"
                 + (" (this model family's packed examples would attend to each other)" if self.packing_refused else ""),
                 f"attention {self._attention_text()}",
                 f"liger {self._liger_text()}", f"optimizer {'fused AdamW' if self.fused_adamw else 'as set'}",
                 f"tf32 {'on' if self.tf32 else 'off'}"]
        if self.compile:
            parts.append("torch.compile on each decoder layer")
        if self.graphs:
            parts.append("CUDA graphs of each row length's forward and backward")
        if self.compile_reason:
            parts.append(self.compile_reason)
        if self.checkpointed is not None:
            parts.append(f"checkpointing {self.checkpointed} of {self.layers} layers to stay within "
                         f"{vram.format_bytes(self.budget_bytes)}")
        if self.offload:
            parts.append("checkpointed inputs in CPU memory")
        if self.output_loss:
            parts.append("loss from the labelled positions alone (no full logits)")
        if self.compact_dropout:
            parts.append("LoRA dropout with 1-byte masks")
        return ", ".join(parts)

    def _unpacked_text(self) -> str:
        return "off (one row a micro-batch, accumulated: no padding)" if self.rows_apart else "off (padded batches)"

    def _attention_text(self) -> str:
        if self.attention == "varlen":
            return "flash varlen (by sequence boundaries, no mask)"
        return "SDPA, a per-example mask" if self.packing else "SDPA"

    def _liger_text(self) -> str:
        if not self.liger:
            return "off"
        return "fused loss only (layers compiled)" if self.compile else "on"

    def liger_config(self) -> dict[str, bool]:
        """Which of Liger's kernels to apply (transformers' ``liger_kernel_config``)."""
        layers = self.liger and not self.compile
        return {"fused_linear_cross_entropy": self.liger, "cross_entropy": False, "rms_norm": layers,
                "rope": layers, "swiglu": layers, "geglu": layers}


def _bitsandbytes_at_least(major: int, minor: int) -> bool:
    try:
        found = importlib.metadata.version("bitsandbytes").split(".")
        return (int(found[0]), int(found[1])) >= (major, minor)
    except (importlib.metadata.PackageNotFoundError, ValueError, IndexError):
        return False


def triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def liger_installed() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def padding_share(lengths: list[int], batch_size: int) -> float:
    """Share of a padded batch that is padding, for rows taken in this order."""
    if not lengths:
        return 0.0
    padded = sum(max(lengths[i:i + batch_size]) * len(lengths[i:i + batch_size])
                 for i in range(0, len(lengths), batch_size))
    return 1 - sum(lengths) / padded


@dataclass(frozen=True)
class JobSize:
    """What the compile choice weighs (core.compile_choice): the job's micro-steps and its layers."""
    micro_steps: int
    layers: int
    layer_parameters: int
    cache_key: str  # the compiled layers' identity in <home>/cache/compiled.json


def choose(job: TrainJob, hw: Hardware, model_type: str, lengths: list[int] | None = None,
           sharded: bool = False, processes: int = 1, size: JobSize | None = None,
           graphs_faster: bool = False) -> FastPath:
    """Packing where padding would waste >10%, or where the steps will be CUDA graphs (a
    graph needs one packed row); rows of one length gain nothing from it otherwise.

    ``sharded`` (FSDP): no Liger; its fused loss reads the lm_head weight directly,
    which FSDP keeps as a flat shard outside the forward pass. ``processes``: how many
    train together (torchrun); compiled layers were measured on one only. ``size``: with
    it, ``compile = auto`` compiles only a job long enough to pay the compile back.
    ``graphs_faster``: the predicted step is faster as a CUDA graph (core.step_time): a
    short step is mostly launches and Python, so ``cuda_graphs = auto`` replays packed
    steps as graphs, and compile = auto, whose gain there is the same overhead, does not
    compile."""
    tr = job.training
    on_gpu = hw.device == "cuda" and tr.fast_path
    # The CPU's part of the path is for one process: the loss's own division across processes
    # (the Trainer's average over devices) is left to the model's loss there.
    on_cpu = hw.device == "cpu" and tr.fast_path and processes == 1 and not sharded
    wasteful = lengths is None or padding_share(lengths, tr.batch_size) > 0.10
    # Graphs replay packed rows through the flash varlen kernel, on one process, one micro-step
    # an update, eager layers (engine.step_graphs says why each).
    graphable = (on_gpu and varlen_attention.available() and model_type in PACKING_TYPES and processes == 1
                 and not sharded and step_time.graphs_wanted(job, graphs_faster))
    packing = tr.packing or (on_gpu and (wasteful or graphable) and model_type in PACKING_TYPES)
    refused = packing and model_type in PACKING_LEAKS
    packing = packing and not refused
    # Measured on an H100 (docs/benchmarks.md): Liger on packed rows ran at 0.4x the speed of
    # packing alone, so it serves padded (fixed-length) batches only.
    liger = on_gpu and not packing and not sharded and model_type in LIGER_TYPES and liger_installed()
    quantization = job.model.quantization
    kernels = triton_installed() and (quantization != "4bit" or _bitsandbytes_at_least(0, 50))
    automatic = on_gpu and compile_choice.measured_faster(hw.precision == "bf16", processes, job.lora,
                                                          quantization, kernels)
    # Offloaded checkpoints run the layer inside their own autograd function, which compile can't trace.
    reason = ""
    lengths_vary = lengths is None or len(set(lengths)) > 1
    attention = "varlen" if packing and on_gpu and varlen_attention.available() else "sdpa"
    graphs = graphable and attention == "varlen"
    if tr.compile == "auto" and graphs:
        automatic, reason = False, "no compile: CUDA graphs replay these short steps"
    if tr.compile == "auto" and automatic and size is not None and not tr.offload_activations:
        tokens = (sum(lengths) / len(lengths) if lengths else tr.max_length) * tr.batch_size
        choice = compile_choice.choose(size.micro_steps, size.layers, size.layer_parameters, tokens,
                                       compile_choice.was_compiled(cache_key(size, packing, lengths_vary)),
                                       quantized=quantization == "4bit")
        automatic, reason = choice.compile, choice.reason
    compiled = hw.device == "cuda" and not tr.offload_activations and methods.tuner(job.lora.tuner).compiles and (
        tr.compile == "on" or (tr.compile == "auto" and automatic))
    varying = compiled and lengths_vary
    return FastPath(packing=packing, packing_refused=refused, liger=liger, varying_lengths=varying,
                    compile_reason=reason, graphs=graphs and not compiled,
                    fused_adamw=on_gpu and tr.optimizer == "adamw_torch",
                    tf32=on_gpu, compile=compiled, offload=tr.gradient_checkpointing and tr.offload_activations,
                    attention=attention, rows_apart=on_cpu and wasteful and not packing and tr.batch_size > 1,
                    output_loss=on_cpu, compact_dropout=on_cpu)


def graphs_faster(job: TrainJob, config: dict[str, Any], lengths: list[int], lora_parameters: int) -> bool:
    """Whether this GPU runs the job's mean micro-step faster as a CUDA graph than launched
    eagerly (core.step_time's prediction; False where it has none: an unknown GPU or model)."""
    if not torch.cuda.is_available() or not lengths:
        return False
    tokens = step_time.tokens_per_step(step_time.mean_row_tokens(lengths, job.training.max_length),
                                       job.training.batch_size)
    return step_time.graphs_faster(config, tokens, torch.cuda.get_device_name(),
                                   quantized=job.model.quantization == "4bit", lora_parameters=lora_parameters)


def cache_key(size: JobSize, packing: bool, varying_lengths: bool = True) -> str:
    """The compiled graphs' identity: packed rows and padded ones of changing length compile
    with dynamic shapes, padded rows of one length with static ones."""
    shapes = "packed" if packing else "padded" if varying_lengths else "padded-static"
    return f"{size.cache_key}-{shapes}"


def plan_checkpointing(path: FastPath, job: TrainJob, config: dict[str, Any], num_parameters: int | None,
                       hw: Hardware, gpus: int = 1, sharded: bool = False) -> FastPath:
    """How many decoder layers to checkpoint: the fewest whose estimate fits the budget
    (``training.memory_limit_gib``, else 90% of what this process can have of the card);
    and CUDA graphs only where their pool fits it too (else eager steps, which need less).

    Only on the fast path on a GPU, without FSDP; elsewhere every layer is checkpointed."""
    tr = job.training
    if hw.device != "cuda" or not tr.fast_path or sharded:
        return path
    card = available_bytes() if torch.cuda.is_available() else None
    budget = int(tr.memory_limit_gib * vram.GIB) if tr.memory_limit_gib > 0 else card or 0
    if card is not None:
        budget = min(budget, card)  # a limit above what the card has is no limit
    options = {"num_parameters": num_parameters, "fused_loss": path.liger, "compiled": path.compile, "gpus": gpus,
               "strategy": "ddp" if gpus > 1 else "single"}
    try:
        if path.graphs and not vram.graphs_fit(job, config, budget, **options):
            path = replace(path, graphs=False, compile_reason="no CUDA graphs: their memory would not fit "
                                                              f"{vram.format_bytes(budget)}")
        if not tr.gradient_checkpointing:
            return path
        needed = vram.checkpointed_layers_needed(job, config, budget, **options)
    except vram.EstimateError:
        return path
    # Graphs stay on only where nothing recomputes (engine.layer_setup.apply turns them off otherwise).
    return replace(path, checkpointed=needed, layers=num_layers(config), budget_bytes=budget)


def available_bytes() -> int:
    """What this process may fill of its card: free memory plus what it already holds."""
    free, _total = torch.cuda.mem_get_info()
    return int(vram.AUTO_BUDGET_SHARE * (free + torch.cuda.memory_reserved() + vram.CUDA_CONTEXT_BYTES))


def apply_globals(path: FastPath) -> None:
    if path.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if path.packing and torch.cuda.is_available():
        # Packed rows through SDPA attend through a per-example mask, and each new row length made cuDNN's
        # attention build a new plan: ~4 ms of CPU per layer call, the bulk of a short packed
        # step (profiled on an H200, docs/gpu_runs/profile_packed_step.txt). The other fused
        # kernels take the mask without that.
        torch.backends.cuda.enable_cudnn_sdp(False)
