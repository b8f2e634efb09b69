"""The GPU fast path: what the engine turns on by itself on an NVIDIA GPU, and why.

* padding-free packing (DataCollatorWithFlattening: one row per batch, position ids
  restarting per example, so attention never crosses examples and no token is padding);
* Liger's fused kernels when installed, on padded batches (RMSNorm, RoPE, SwiGLU, and the
  fused linear cross-entropy that never builds the batch x vocabulary logits tensor);
* fused AdamW and TF32 matmuls.
Everything degrades cleanly: no CUDA, no liger, or ``training.fast_path = false`` give
the plain transformers + peft path. The choice is reported in a phase event.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch

from studio.core.jobs import TrainJob
from studio.core.vram import FUSED_LOSS_TYPES
from studio.engine.hardware import Hardware

# Model families Liger patches (its apply_liger_kernel_to_* functions); core's estimate agrees.
LIGER_TYPES = FUSED_LOSS_TYPES


@dataclass(frozen=True)
class FastPath:
    packing: bool
    liger: bool
    fused_adamw: bool
    tf32: bool
    compile: bool = False

    def describe(self) -> str:
        parts = [f"packing {'padding-free' if self.packing else 'off (padded batches)'}",
                 f"liger {'on' if self.liger else 'off'}", f"optimizer {'fused AdamW' if self.fused_adamw else 'as set'}",
                 f"tf32 {'on' if self.tf32 else 'off'}"] + (["torch.compile"] if self.compile else [])
        return ", ".join(parts)


def liger_installed() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def padding_share(lengths: list[int], batch_size: int) -> float:
    """Share of a padded batch that is padding, for rows taken in this order."""
    if not lengths:
        return 0.0
    padded = sum(max(lengths[i:i + batch_size]) * len(lengths[i:i + batch_size])
                 for i in range(0, len(lengths), batch_size))
    return 1 - sum(lengths) / padded


def choose(job: TrainJob, hw: Hardware, model_type: str, lengths: list[int] | None = None,
           sharded: bool = False) -> FastPath:
    """Packing only where padding would waste >10% (fixed-length rows gain nothing from it).

    ``sharded`` (FSDP): no Liger; its fused loss reads the lm_head weight directly,
    which FSDP keeps as a flat shard outside the forward pass."""
    tr = job.training
    on_gpu = hw.device == "cuda" and tr.fast_path
    wasteful = lengths is None or padding_share(lengths, tr.batch_size) > 0.10
    packing = tr.packing or (on_gpu and wasteful)
    return FastPath(
        packing=packing,
        # Measured on an H100 (docs/benchmarks.md): Liger on packed rows ran at 0.4x the speed
        # of packing alone, so it serves padded (fixed-length) batches only; and torch.compile
        # with Liger crashed (illegal memory access in its fused cross-entropy backward).
        liger=on_gpu and not packing and not tr.compile and not sharded and model_type in LIGER_TYPES and liger_installed(),
        fused_adamw=on_gpu and tr.optimizer == "adamw_torch",
        tf32=on_gpu,
        compile=hw.device == "cuda" and tr.compile,
    )


def apply_globals(path: FastPath) -> None:
    if path.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
