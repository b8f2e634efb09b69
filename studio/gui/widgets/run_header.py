"""The top of a run's view: its id, phase, step x/y, epoch, elapsed time, ETA and progress.

Only the newest ``phase`` and ``step`` of a batch matter, so a burst of events costs
one label update. While the run lives a one-second timer keeps elapsed and ETA moving
between steps.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from studio.core import protocol
from studio.gui.widgets.metric_chart import colours

PHASES = {"loading_model": "Loading model", "preparing_data": "Preparing data", "training": "Training",
          "compiling": "Compiling (first steps are slower)",
          "evaluating": "Evaluating", "saving": "Saving", "paused": "Paused", "merging": "Merging",
          "generating": "Generating", "waiting": "Waiting for the worker",
          "done": "Done", "stopped": "Stopped", "failed": "Failed", "cancelled": "Cancelled",
          "running": "Running"}
PHASE_COLOUR = {"done": 2, "stopped": 5, "failed": 3, "cancelled": None, "paused": 5}  # chart colour index


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RunHeader(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("No run")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.phase = QLabel("")
        self.phase.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel("")
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.detail.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        self.stats = QLabel("")
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFixedHeight(16)
        self.controls = QHBoxLayout()
        self.controls.setSpacing(6)

        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.title)
        top.addWidget(self.phase)
        top.addWidget(self.detail, 1)
        top.addLayout(self.controls)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.stats)
        layout.addWidget(self.progress)

        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._show_stats)
        self.reset("")

    def reset(self, run_id: str, live: bool = True) -> None:
        self.run_id = run_id
        self.title.setText(run_id or "No run")
        self.live = live and bool(run_id)
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.step: protocol.Step | None = None
        self.device = ""
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self._set_phase("waiting" if self.live else "", "")
        self._show_stats()
        if self.live:
            self._timer.start()
        else:
            self._timer.stop()

    def add_events(self, events: Iterable[protocol.Event]) -> None:
        phase = step = None
        for event in events:
            if self.first_t is None:
                self.first_t = event.t
            self.last_t = event.t
            if event.type == "step" and _valid_step(event):
                step = event
            elif event.type == "phase":
                phase = event
            elif event.type == "hello":
                self.device = _device(event)
            elif event.type == "system" and event.gpus and isinstance(event.gpus, list) \
                    and isinstance(event.gpus[0], dict) and not self.device:
                self.device = str(event.gpus[0].get("name", self.device))
        if phase is not None:
            name = str(phase.name)
            self._set_phase(name, str(phase.detail or ""))
            total, done = _count(phase.total), _count(phase.done) or 0
            if total and name != "training":
                self.progress.setRange(0, total)
                self.progress.setValue(min(done, total))
                self.progress.setFormat(f"{PHASES.get(name, name)}: %v / %m")
        if step is not None:
            self.step = step
            total = max(1, int(step.total_steps or 0))
            self.progress.setRange(0, total)
            self.progress.setValue(min(int(step.step), total))
            self.progress.setFormat("%p %")
        if phase is not None or step is not None or events:
            self._show_stats()

    def finish(self, status: str) -> None:
        self.live = False
        self._timer.stop()
        self._set_phase(status, self.detail.text() if status in ("done", "stopped") else "")
        self._show_stats()

    def set_paused(self, paused: bool) -> None:
        self._set_phase("paused" if paused else "training", "")

    def _set_phase(self, name: str, detail: str) -> None:
        self.phase_name = name
        text = PHASES.get(name, name.replace("_", " ").capitalize())
        self.phase.setText(text)
        self.phase.setVisible(bool(text))
        index = PHASE_COLOUR.get(name, 0)
        colour = "#8a8f98" if index is None else colours()[index]
        self.phase.setStyleSheet(f"QLabel {{ color: white; background: {colour}; border-radius: 8px; "
                                 "padding: 2px 10px; font-weight: 600; }")
        self.detail.setText(detail)
        self.detail.setToolTip(detail)

    def _show_stats(self) -> None:
        now = time.time()
        step = self.step
        elapsed = None
        if self.first_t is not None:
            elapsed = (now if self.live else (self.last_t or now)) - self.first_t
        eta = None
        if step is not None and step.eta_s is not None and self.phase_name != "paused":
            eta = max(0.0, step.eta_s - (now - step.t)) if self.live else (0.0 if step.step >= step.total_steps else None)
        parts = [
            ("Step", f"{step.step:,} / {step.total_steps:,}" if step else "—"),
            ("Epoch", f"{step.epoch:.2f}" if step and step.epoch is not None else "—"),
            ("Loss", f"{step.loss:.4f}" if step and step.loss is not None else "—"),
            ("Elapsed", duration(elapsed)),
            ("ETA", duration(eta) if self.live or eta is not None else "—"),
        ]
        if self.device:
            parts.append(("Device", self.device))
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText).name()
        self.stats.setText("&nbsp;&nbsp;&nbsp;&nbsp;".join(f"<span style='color:{muted}'>{k}</span>&nbsp;"
                                                             f"<b>{v}</b>" for k, v in parts))


def _device(hello: protocol.Hello) -> str:
    found = [d for d in hello.devices or [] if isinstance(d, dict)]
    gpus = [d for d in found if d.get("type") == "cuda"]
    if gpus:
        name = str(gpus[0].get("name", "GPU"))
        return name if len(gpus) == 1 else f"{len(gpus)} × {name}"
    cpu = next((d for d in found if d.get("type") == "cpu"), None)
    return f"CPU, {cpu.get('threads', '?')} threads" if cpu else ""


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def _valid_step(event: protocol.Event) -> bool:
    """A step the labels can format (a hand-edited file may hold anything)."""
    numbers = (event.step, event.total_steps, event.epoch, event.elapsed_s)
    return all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers) and \
        all(v is None or isinstance(v, int | float) for v in (event.loss, event.eta_s))
