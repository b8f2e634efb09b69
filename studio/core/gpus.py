"""The machine's NVIDIA GPUs (name, memory) through NVML, without torch.

The estimate needs the card's capacity before any worker starts, in the GUI and the
CLI alike; NVML answers in milliseconds where importing torch takes seconds. No
NVIDIA driver (a laptop, CI) simply means no GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    total_bytes: int


@lru_cache(maxsize=1)
def visible_gpus() -> tuple[Gpu, ...]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library, no driver, no device: all mean "none"
        return ()
    found = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            found.append(Gpu(index, name.decode() if isinstance(name, bytes) else str(name),
                             int(pynvml.nvmlDeviceGetMemoryInfo(handle).total)))
    except Exception:  # noqa: BLE001
        return tuple(found)
    return tuple(found)


@dataclass(frozen=True)
class GpuUse:
    index: int
    used_bytes: int
    util_percent: int


def current_use() -> dict[int, GpuUse]:
    """Memory in use and utilisation of each GPU now (for the Train page's GPU list)."""
    def query(nv) -> dict[int, GpuUse]:
        found: dict[int, GpuUse] = {}
        try:
            for index in range(nv.nvmlDeviceGetCount()):
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                found[index] = GpuUse(index, int(nv.nvmlDeviceGetMemoryInfo(handle).used),
                                      int(nv.nvmlDeviceGetUtilizationRates(handle).gpu))
        except Exception:  # noqa: BLE001 - what was read before the failure still counts
            pass
        return found

    return _nvml(query) or {}


def _nvml(query):
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library or driver
        return None
    try:
        return query(pynvml)
    except Exception:  # noqa: BLE001
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def driver_version() -> str | None:
    """The NVIDIA driver's version, or None without one."""
    value = _nvml(lambda nv: nv.nvmlSystemGetDriverVersion())
    return value.decode() if isinstance(value, bytes) else value


def compute_capability(index: int) -> str | None:
    """'9.0' for an H100; None when NVML can't say."""
    pair = _nvml(lambda nv: nv.nvmlDeviceGetCudaComputeCapability(nv.nvmlDeviceGetHandleByIndex(index)))
    return f"{pair[0]}.{pair[1]}" if pair else None
