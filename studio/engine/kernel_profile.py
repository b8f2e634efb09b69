"""Where a GPU step's time goes, by kind of kernel: ``lora-studio bench --profile``.

The step-level benchmark's tokens/s says how fast, not why. This sorts the kernels that
torch.profiler saw in a few profiled steps into a handful of kinds (matmuls, attention,
the loss, compiled fused kernels, other elementwise work, copies, the optimizer) and
reports each kind's milliseconds a step, the GPU's idle share, and the matmuls' achieved
TFLOP/s (from the analytic count of the frozen linear layers' work), which is the number
to hold against the GPU's matmul roof.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

# First match wins: attention before matmul (cuDNN's attention kernels are named sm90_...),
# the loss before the compiled kernels (Liger's are Triton kernels too), inductor's fused
# kernels before the copies (their names list the ops they fused).
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("attention", ("flash", "fmha", "sdpa", "attention", "attn")),
    ("loss", ("cross_entropy", "liger", "element_mul")),
    ("optimizer", ("adam", "multi_tensor", "foreach")),
    ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "sm90_", "sm80_", "cublas", "splitk")),
    ("compiled fused", ("triton_",)),
    ("copies", ("memcpy", "memset", "copy", "cat")),
    ("elementwise", ("elementwise", "reduce", "vectorized", "dropout", "mul", "add")),
)


def kind_of(kernel_name: str) -> str:
    name = kernel_name.lower()
    return next((kind for kind, marks in KINDS if any(mark in name for mark in marks)), "other")


def summarize(kernels: Iterable[tuple[str, float]], steps: int, wall_ms: float,
              matmul_flops_per_step: float) -> dict:
    """``kernels``: (name, GPU microseconds) of every kernel in ``steps`` profiled steps whose
    wall time was ``wall_ms``; milliseconds a step by kind, busiest first, and the top kernels."""
    by_kind: dict[str, float] = defaultdict(float)
    by_name: dict[str, float] = defaultdict(float)
    for name, micros in kernels:
        by_kind[kind_of(name)] += micros / 1000 / steps
        by_name[name] += micros / 1000 / steps
    busy = sum(by_kind.values())
    step_ms = wall_ms / steps
    matmul_ms = by_kind.get("matmul", 0.0)
    return {
        "step_ms": round(step_ms, 1),
        "kinds_ms": {k: round(v, 1) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
        "gpu_idle_ms": round(max(0.0, step_ms - busy), 1),
        "matmul_tflops": round(matmul_flops_per_step / (matmul_ms / 1000) / 1e12) if matmul_ms else None,
        "top_kernels_ms": {name[:90]: round(ms, 2) for name, ms in sorted(by_name.items(), key=lambda kv: -kv[1])[:12]},
    }


def kernels_of(profiler) -> list[tuple[str, float]]:
    """(name, self GPU microseconds) of each kernel a finished torch.profiler run recorded."""
    from torch.autograd import DeviceType

    return [(e.name, e.time_range.elapsed_us()) for e in profiler.events()
            if e.device_type == DeviceType.CUDA]


def report(summary: dict) -> str:
    lines = [f"step {summary['step_ms']} ms: " + ", ".join(f"{k} {v}" for k, v in summary["kinds_ms"].items())
             + f", GPU idle {summary['gpu_idle_ms']} (ms a step); matmuls at {summary['matmul_tflops']} TFLOP/s"]
    lines += [f"  {ms:8.2f} ms  {name}" for name, ms in summary["top_kernels_ms"].items()]
    return "\n".join(lines)
