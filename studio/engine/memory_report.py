"""What a run really used on the GPU, next to what core.vram predicted for it.

``torch.cuda.max_memory_reserved`` misses what lives outside PyTorch's allocator (the
CUDA context, kernels, library handles: ~0.75 GiB on an H100); NVML's per-process
figure sees it, so the measured peak is the allocator's peak plus that remainder, the
same quantity the estimate and docs/vram_validation.md speak of.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from studio.core import vram
from studio.core.jobs import TrainJob
from studio.engine.fast_path import FastPath

log = logging.getLogger(__name__)


def process_gpu_bytes(index: int) -> int | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == os.getpid() and proc.usedGpuMemory:
                return int(proc.usedGpuMemory)
    except Exception:  # noqa: BLE001 - containers often hide per-process figures
        return None
    return None


def gpu_memory_metrics(job: TrainJob, model_config: dict[str, Any], num_parameters: int | None,
                       gpus: int = 1, strategy: str = "single", path: FastPath | None = None) -> dict[str, Any]:
    """Measured peak (bytes), the estimate for the same job, and how far apart they are
    (of this process's GPU: one of ``gpus`` under ``strategy``; ``path``: the fast path
    taken, for its fused loss, compiled and checkpointed layers; None: the plain path)."""
    if not torch.cuda.is_available():
        return {}
    device = torch.cuda.current_device()
    reserved_peak = torch.cuda.max_memory_reserved(device)
    process = process_gpu_bytes(device)
    outside = process - torch.cuda.memory_reserved(device) if process else vram.CUDA_CONTEXT_BYTES
    metrics: dict[str, Any] = {
        "peak_memory_reserved_bytes": reserved_peak,
        "peak_memory_bytes": reserved_peak + max(0, outside),
        "gpu_total_bytes": torch.cuda.get_device_properties(device).total_memory,
    }
    try:
        estimate = vram.estimate(job, model_config, num_parameters=num_parameters, fused_loss=bool(path and path.liger),
                                 gpus=gpus, strategy="fsdp" if strategy == "fsdp" else "ddp",
                                 checkpointed_layers=path.checkpointed if path else None,
                                 compiled=bool(path and path.compile), graphs=bool(path and path.graphs))
    except vram.EstimateError as exc:
        log.info("no VRAM estimate for this model: %s", exc)
        return metrics
    metrics["estimated_peak_bytes"] = estimate.total
    metrics["estimate_error"] = round((estimate.total - metrics["peak_memory_bytes"]) / metrics["peak_memory_bytes"], 4)
    return metrics
