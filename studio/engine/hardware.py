"""What this machine can do: device, number format, library versions.

Chosen once per job and reported in the ``hello`` event, so a user can see why a
run used fp32 on the CPU or bf16 on an Ampere GPU.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda" or "cpu"
    precision: str  # "bf16" | "fp16" | "fp32"

    @property
    def dtype(self) -> torch.dtype:
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[self.precision]


def choose(device: str = "auto", precision: str = "auto") -> Hardware:
    """Resolve ``auto``: CUDA when present; bf16 where supported, else fp16 on GPU, fp32 on CPU."""
    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        from studio.core.job_schema import Issue
        from studio.core.machine_fit import MachineError

        raise MachineError([Issue("training.device", "is 'cuda', but torch sees no CUDA GPU here; choose auto or cpu")])
    dev = "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"
    if precision == "auto":
        if dev == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "fp32"
    return Hardware(dev, precision)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "liger-kernel"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["cuda"] = torch.version.cuda
    return out


def devices() -> list[dict[str, object]]:
    found: list[dict[str, object]] = [{"type": "cpu", "threads": torch.get_num_threads()}]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            found.append({
                "type": "cuda",
                "index": index,
                "name": props.name,
                "memory_bytes": props.total_memory,
                "capability": f"{props.major}.{props.minor}",
            })
    return found


def is_out_of_memory(exc: BaseException) -> bool:
    """The GPU's memory or this machine's RAM ran out (``is_out_of_ram``)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError) or is_out_of_ram(exc):
        return True
    text = str(exc).lower()
    return "out of memory" in text and ("cuda" in text or "alloc" in text)


def is_out_of_ram(exc: BaseException) -> bool:
    """This machine's RAM ran out: Python's MemoryError, or torch's CPU allocator, which says
    "[enforce fail at alloc_cpu.cpp:127] ... DefaultCPUAllocator: can't allocate memory: you tried
    to allocate N bytes" (or "not enough memory") in a RuntimeError. ``-r 100000`` on a CPU run
    ended that way and was reported as ``internal`` (issue 22)."""
    return isinstance(exc, MemoryError) or "defaultcpuallocator" in str(exc).lower()
