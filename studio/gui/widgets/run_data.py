"""A run's metrics as growing arrays, fed by protocol events; no Qt.

Events arrive in bursts (thousands a second when a file is replayed); appending to
preallocated numpy buffers keeps that cheap, and the charts draw array views without
copying. Each series counts its changes so a redraw touches only what moved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from studio.core import protocol
from studio.gui.widgets.grpo_series import grpo_points, reward_label

GIB = float(1 << 30)
EMA_BETA = 0.9  # weight of the past in the smoothed loss; TensorBoard-like, bias-corrected
# A preference stage's numbers (protocol.Step.preference, TRL's names) -> (series, scale). A step's
# margin and accuracy come from one small batch and jump about: they are smoothed like the loss.
PREFERENCE_SERIES = {"rewards/margins": ("margin", 1.0), "rewards/accuracies": ("accuracy", 100.0),
                     "rewards/chosen": ("chosen", 1.0), "rewards/rejected": ("rejected", 1.0)}
SMOOTHED = ("margin", "accuracy")


class Series:
    """x/y points in amortised O(1) appends; ``view()`` returns the filled part."""

    def __init__(self, capacity: int = 256):
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self.n = 0
        self.version = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            self._x = np.resize(self._x, 2 * self.n)
            self._y = np.resize(self._y, 2 * self.n)
        self._x[self.n] = x
        self._y[self.n] = y
        self.n += 1
        self.version += 1

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x[: self.n], self._y[: self.n]

    def last_y(self) -> float | None:
        return float(self._y[self.n - 1]) if self.n else None

    def __len__(self) -> int:
        return self.n


class Ema:
    """A bias-corrected exponential moving average (the first values are not pulled toward 0)."""

    def __init__(self, beta: float = EMA_BETA):
        self.beta = beta
        self._sum = 0.0
        self._n = 0

    def add(self, value: float) -> float:
        self._sum = self.beta * self._sum + (1 - self.beta) * value
        self._n += 1
        return self._sum / (1 - self.beta ** self._n)


class RunData:
    """Everything the charts show, keyed by series name.

    Training series are indexed by step; system series by minutes since the run began.
    GPU series are named ``gpu<i>.<metric>`` and appear when a GPU is first reported.
    A preference stage's steps add ``margin``, ``accuracy`` (in %), ``chosen`` and ``rejected``
    (rewards), the first two also smoothed (``margin_ema``), and its evaluations ``eval_margin`` etc.
    A GRPO run's add ``reward``, ``reward:<label>`` per reward function, ``reward_std``, ``mean_length``
    and ``kl`` (grpo_series), its evaluations the same with ``eval_`` before them.
    """

    TRAIN = ("loss", "loss_ema", "eval_loss", "checkpoint", "lr", "grad_norm", "tokens_per_s")
    PREFERENCE = tuple(name for series, _scale in PREFERENCE_SERIES.values()
                       for name in (series, f"eval_{series}", *((f"{series}_ema",) if series in SMOOTHED else ())))

    def __init__(self) -> None:
        self.series: dict[str, Series] = {name: Series() for name in (*self.TRAIN, *self.PREFERENCE)}
        self.series.update(cpu_percent=Series(), rss_gib=Series())
        self.gpu_names: dict[int, str] = {}
        self.gpu_total_gib: dict[int, float] = {}
        self.t0: float | None = None
        self.has_gpu = False
        self.system_seen = False
        self.cpu_source = ""  # "worker": the worker's own CPU; "machine": a run from before it was sent
        self._ema = {name: Ema() for name in ("loss", *SMOOTHED)}
        self._loss_at: dict[int, float] = {}
        self.preference_seen = False  # a step or evaluation carried a preference stage's numbers
        self.grpo_seen = False  # ... or GRPO's
        self.reward_labels: list[str] = []  # GRPO's reward functions, in the order first seen

    def get(self, name: str) -> Series:
        if name not in self.series:
            self.series[name] = Series()
        return self.series[name]

    def add(self, events: Iterable[protocol.Event]) -> None:
        for event in events:
            try:
                self._add(event)
            except (TypeError, ValueError, AttributeError):
                continue  # a well-formed line with nonsense values: skip it, keep the run

    def _add(self, event: protocol.Event) -> None:
        if self.t0 is None:
            self.t0 = float(event.t)
        kind = event.type
        if kind == "hello":
            # Lay the GPU charts out at the start, not when the first system event comes mid-training.
            self.has_gpu = self.has_gpu or any(isinstance(d, dict) and d.get("type") == "cuda"
                                               for d in event.devices or [])
        elif kind == "step":
            self._step(event)
        elif kind == "system":
            self._system(event)
        elif kind == "eval":
            if event.eval_loss is not None:
                self.series["eval_loss"].append(event.step, event.eval_loss)
            self._preference(event.step, getattr(event, "preference", None), "eval_")
        elif kind == "checkpoint":
            # Drawn on the smoothed loss curve at that step (the last value if not logged yet).
            y = self._loss_at.get(event.step, self.series["loss_ema"].last_y() or 0.0)
            self.series["checkpoint"].append(event.step, y)

    def _step(self, event: protocol.Step) -> None:
        s = self.series
        if event.loss is not None:
            s["loss"].append(event.step, event.loss)
            smoothed = self._ema["loss"].add(event.loss)
            s["loss_ema"].append(event.step, smoothed)
            self._loss_at[event.step] = smoothed
        if event.lr is not None:
            s["lr"].append(event.step, event.lr)
        if event.grad_norm is not None:
            s["grad_norm"].append(event.step, event.grad_norm)
        if event.tokens_per_s is not None:
            s["tokens_per_s"].append(event.step, event.tokens_per_s)
        self._preference(event.step, getattr(event, "preference", None), "")

    def _preference(self, step: int, numbers: object, prefix: str) -> None:
        """A step's (prefix "") or an evaluation's ("eval_") preference numbers, the known ones charted."""
        if not isinstance(numbers, dict):
            return
        for name, value in grpo_points(numbers):
            self.grpo_seen = True
            self.get(prefix + name).append(step, value)
            label = reward_label(name)
            if label is not None and label not in self.reward_labels:
                self.reward_labels.append(label)
        for key, (name, scale) in PREFERENCE_SERIES.items():
            value = numbers.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                continue
            self.preference_seen = True
            self.series[prefix + name].append(step, value * scale)
            if not prefix and name in SMOOTHED:
                self.series[f"{name}_ema"].append(step, self._ema[name].add(value * scale))

    def _system(self, event: protocol.System) -> None:
        self.system_seen = True
        minutes = (event.t - (self.t0 or event.t)) / 60.0
        worker = getattr(event, "worker_cpu_percent", None)
        if isinstance(worker, int | float) and not isinstance(worker, bool):
            self.cpu_source = "worker"
            self.series["cpu_percent"].append(minutes, worker)
        elif event.cpu_percent is not None and self.cpu_source != "worker":
            self.cpu_source = "machine"
            self.series["cpu_percent"].append(minutes, event.cpu_percent)
        if event.rss_bytes:
            self.series["rss_gib"].append(minutes, event.rss_bytes / GIB)
        for gpu in event.gpus or []:
            if not isinstance(gpu, dict):
                continue
            self.has_gpu = True
            index = int(gpu.get("index", 0))
            self.gpu_names.setdefault(index, str(gpu.get("name", f"GPU {index}")))
            for key, name, scale in (("util_percent", "util", 1.0), ("mem_used_bytes", "mem_gib", GIB),
                                     ("temp_c", "temp", 1.0), ("power_w", "power", 1.0)):
                value = gpu.get(key)
                if isinstance(value, int | float):
                    self.get(f"gpu{index}.{name}").append(minutes, value / scale)
            total = gpu.get("mem_total_bytes")
            if isinstance(total, int | float) and total > 0:
                self.gpu_total_gib[index] = total / GIB
