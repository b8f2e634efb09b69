"""A ``system`` event every ~2 s: GPU use from NVML, CPU and memory from psutil.

CPU is measured twice: the whole machine's, and the worker's own with its child processes
(torchrun's ranks), as a share of all cores. The Monitor charts the worker's (issue 21: a
chart called "CPU (%)" showed the machine's, other programs' load included).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

import psutil

from studio.core import protocol


def gpu_stats() -> list[dict[str, object]]:
    """One dict per NVIDIA GPU; empty where NVML (the driver) is absent."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no library: no GPUs to report
        return []
    stats = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            entry: dict[str, object] = {
                "index": index,
                "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "util_percent": util.gpu,
                "mem_used_bytes": mem.used,
                "mem_total_bytes": mem.total,
            }
            with contextlib.suppress(Exception):
                entry["temp_c"] = pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)
            with contextlib.suppress(Exception):
                entry["power_w"] = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            stats.append(entry)
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return stats


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SystemMonitor:
    def __init__(self, emit: Callable[[protocol.Event], None], interval_s: float = 2.0):
        self.emit = emit
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="system-monitor", daemon=True)
        self._process = psutil.Process(os.getpid())
        self._tracked: dict[int, psutil.Process] = {}  # a Process remembers its CPU time at the last call
        self._cores = psutil.cpu_count() or 1

    def start(self) -> SystemMonitor:
        psutil.cpu_percent(None)  # the first calls only prime the counters
        self.worker_cpu_percent()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self) -> protocol.System:
        return protocol.System(
            gpus=gpu_stats(),
            cpu_percent=psutil.cpu_percent(None),
            rss_bytes=self._process.memory_info().rss,
            worker_cpu_percent=round(self.worker_cpu_percent(), 1),
        )

    def worker_cpu_percent(self) -> float:
        """CPU used since the last call by this worker and its children, % of all cores (0-100).
        A child seen for the first time counts from then on."""
        try:
            processes = [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            processes = [self._process]
        used = 0.0
        alive: dict[int, psutil.Process] = {}
        for process in processes:
            known = self._tracked.get(process.pid, process)
            with contextlib.suppress(psutil.Error):
                used += known.cpu_percent(None)  # % of one core
                alive[process.pid] = known
        self._tracked = alive
        return min(100.0, used / self._cores)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):
                self.emit(self.snapshot())
