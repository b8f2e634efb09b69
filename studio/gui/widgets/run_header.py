"""The top of a run's view: its id, state, phase line, step x/y, epoch, elapsed time, ETA and progress.

Where the run is comes from one state machine (gui.run_states), fed every event of a batch
in order; the labels are redrawn once a batch. One number is the step shown, by the stats
and the bar alike: the most steps the worker has said are done, by a step event or by a
phase (a pause is announced before the paused step's event). Whatever the worker counts in
parts (an evaluation's batches, a merge's adapters) fills the bar with its own ETA; a phase
with no count shows a busy bar, never the last phase's frozen value. While the run lives a
one-second timer keeps elapsed and ETA moving between events.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from studio.core import protocol
from studio.core.throughput import progress_eta_s
from studio.gui.run_states import ENDED, STEPPING, RunState, RunStates
from studio.gui.widgets.elided_label import ElidedLabel
from studio.gui.widgets.metric_chart import colours

PHASES = {"loading_model": "Loading model", "preparing_data": "Preparing data", "training": "Training",
          "compiling": "Compiling (first steps are slower)",
          "evaluating": "Evaluating", "saving": "Saving", "paused": "Paused", "merging": "Merging",
          "generating": "Generating", "waiting": "Waiting for the worker", "stopping": "Stopping",
          "scoring": "Scoring", "answering": "Answering",
          "done": "Done", "stopped": "Stopped", "failed": "Failed", "cancelled": "Cancelled",
          "running": "Running"}
UNITS = {"evaluating": " batches"}  # what an evaluating phase counts, in the bar
# Chart colour index of the state's pill; None: grey. Others take the first colour.
PHASE_COLOUR: dict[str, int | None] = {"done": 2, "stopped": 5, "failed": 3, "cancelled": None, "paused": 5,
                                       "stopping": 5, "cancelling": None}
STEP_PHASES = frozenset({"training", "compiling", "paused", "stopping"})  # their done/total count steps
STEP_FORMATS = {RunState.TRAINING: "%p %", RunState.PAUSED: "Paused at step %v of %m",
                RunState.STOPPING: "Stopping at step %v of %m"}


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class Counted:
    """A phase counted in parts: where it began (time, parts then) and its newest count."""
    name: str
    started_t: float
    started_done: int
    done: int = 0
    total: int = 0
    at_t: float = 0.0

    def eta_s(self) -> float | None:
        """Seconds left as of the newest count, at the pace since the phase began."""
        return progress_eta_s(self.done - self.started_done, self.total - self.started_done,
                              self.at_t - self.started_t)


class RunHeader(QWidget):
    state_changed = Signal(str)  # a RunState value: the Monitor enables its buttons from it

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.states = RunStates()
        self.title = ElidedLabel("No run", Qt.TextElideMode.ElideMiddle)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.phase = QLabel("")
        self.phase.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.phase.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        # The phase's own line (what it loads, how it evaluates, "Stopping after this step…"):
        # a row of its own under the buttons, cut with "…" to the window (the tooltip has it all).
        self.detail = ElidedLabel("")
        self.detail.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        self.detail.setMinimumHeight(self.detail.fontMetrics().height())  # the row stays when empty
        self.stats = QLabel("")
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        self.stats.setWordWrap(True)  # a long device name wraps rather than widen the window
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFixedHeight(16)
        self.controls = QHBoxLayout()
        self.controls.setSpacing(6)

        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.title, 0)
        top.addWidget(self.phase, 0)
        top.addStretch(1)
        top.addLayout(self.controls)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.detail)
        layout.addWidget(self.stats)
        layout.addWidget(self.progress)

        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._show_stats)
        self.reset("")

    # -- what the run says ---------------------------------------------------------------------
    @property
    def state(self) -> RunState:
        return self.states.state

    def reset(self, run_id: str, live: bool = True) -> None:
        before = self.state
        self.run_id = run_id
        self.title.setText(run_id or "No run")
        self.live = live and bool(run_id)
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.step: protocol.Step | None = None  # the newest step event (loss, epoch, its ETA)
        self.steps_done = 0  # the one step number shown: the most the worker said are done
        self.total_steps = 0
        self.counted: Counted | None = None
        self.device = ""
        self.states.reset(self.live)
        self.set_detail("")
        self._show(before)

    def add_events(self, events: Iterable[protocol.Event]) -> None:
        before = self.state
        seen = False
        for event in events:
            seen = True
            if self.first_t is None:
                self.first_t = event.t
            self.last_t = event.t
            if event.type == "step" and _valid_step(event):
                self.step = event
                self.steps_done = max(self.steps_done, int(event.step))
                self.total_steps = int(event.total_steps)
                self.states.on_step()
            elif event.type == "phase" and isinstance(event.name, str):
                self._phase(event)
            elif event.type == "hello":
                self.device = _device(event)
                self.states.hello()
            elif event.type == "system" and event.gpus and isinstance(event.gpus, list) \
                    and isinstance(event.gpus[0], dict) and not self.device:
                self.device = str(event.gpus[0].get("name", self.device))
        if seen:
            self._show(before)

    def _phase(self, phase: protocol.Phase) -> None:
        name = phase.name
        done, total = _count(phase.done), _count(phase.total)
        if name in STEP_PHASES:
            if total:
                self.steps_done = max(self.steps_done, done or 0)
                self.total_steps = total
            self.counted = None
        else:
            if self.counted is None or self.counted.name != name:
                self.counted = Counted(name, phase.t, done or 0)  # a new phase: its pace starts here
            self.counted.done, self.counted.total, self.counted.at_t = done or 0, total or 0, phase.t
        if phase.detail:
            self.set_detail(str(phase.detail))
        elif name != self.states.phase:
            self.set_detail("")  # a new phase without a line of its own: the last one's no longer holds
        self.states.on_phase(name, self.steps_done, self.total_steps)

    def command(self, command: str) -> None:
        """The user's ``command`` (pause, resume, stop, cancel) reached the worker."""
        before = self.state
        self.states.command(command)
        self._show(before)

    def finish(self, status: str) -> None:
        before = self.state
        self.live = False
        self._timer.stop()
        self.states.end(status)
        if status not in ("done", "stopped"):
            self.set_detail("")
        self._show(before)

    def set_detail(self, text: str) -> None:
        self.detail.setText(text)  # its row stays when empty: the charts do not jump at each phase

    # -- drawing ---------------------------------------------------------------------------------
    def _show(self, before: RunState | None = None) -> None:
        self._show_phase()
        self._show_progress()
        self._show_stats()
        if self.live and self.states.live:
            self._timer.start()
        else:
            self._timer.stop()
        if before is not None and before != self.state:
            self.state_changed.emit(self.state.value)

    def _show_phase(self) -> None:
        text = self.states.label(PHASES)
        self.phase.setText(text)
        self.phase.setVisible(bool(text))
        index = PHASE_COLOUR.get(self.state.value, 0)
        colour = "#8a8f98" if index is None else colours()[index]
        self.phase.setStyleSheet(f"QLabel {{ color: white; background: {colour}; border-radius: 8px; "
                                 "padding: 2px 10px; font-weight: 600; }")

    def _show_progress(self) -> None:
        state, bar = self.state, self.progress
        counted = self._current_count()
        if self.total_steps and (state in STEPPING or state in ENDED):
            bar.setRange(0, self.total_steps)
            bar.setValue(min(self.steps_done, self.total_steps))
            bar.setFormat(STEP_FORMATS.get(state, "%v / %m steps"))
        elif counted is not None:
            bar.setRange(0, counted.total)
            bar.setValue(min(counted.done, counted.total))
            bar.setFormat(f"{self.states.label(PHASES)}: %v / %m{UNITS.get(counted.name, '')}")
        elif state in ENDED or state is RunState.IDLE:
            bar.setRange(0, 1)
            bar.setValue(1 if state in (RunState.DONE, RunState.STOPPED) else 0)
            bar.setFormat("")
        else:
            bar.setRange(0, 0)  # busy: this phase says no count (loading, saving, starting)
            bar.setFormat("")

    def _current_count(self) -> Counted | None:
        """The newest phase's count, while that phase is what the run does."""
        counted = self.counted
        if counted is None or not counted.total or counted.name != self.states.phase:
            return None
        return counted if self.state not in (RunState.STARTING, RunState.CANCELLING, RunState.IDLE) else None

    def _show_stats(self) -> None:
        now = time.time()
        step = self.step
        elapsed = None
        if self.first_t is not None:
            elapsed = (now if self.live else (self.last_t or now)) - self.first_t
        parts = [
            ("Step", f"{self.steps_done:,} / {self.total_steps:,}" if self.total_steps else "—"),
            ("Epoch", f"{step.epoch:.2f}" if step and step.epoch is not None else "—"),
            ("Loss", f"{step.loss:.4f}" if step and step.loss is not None else "—"),
            ("Elapsed", duration(elapsed)),
            ("ETA", duration(self._eta(now))),
        ]
        if self.device:
            parts.append(("Device", self.device))
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText).name()
        # Plain spaces between the parts (not inside them): a narrow window wraps there.
        self.stats.setText(" &nbsp; ".join(f"<span style='color:{muted}'>{k}</span>&nbsp;<b>{v}</b>"
                                           for k, v in parts))

    def _eta(self, now: float) -> float | None:
        """Training: the worker's ETA counted down since its step; a counted phase: its own
        pace; paused, stopping, saving, loading: unknown."""
        state, step = self.state, self.step
        if not self.live:
            return 0.0 if state in ENDED and self.total_steps and self.steps_done >= self.total_steps else None
        if state is RunState.TRAINING and step is not None and step.eta_s is not None:
            return max(0.0, step.eta_s - (now - step.t))
        counted = self._current_count()
        if counted is not None and state in (RunState.EVALUATING, RunState.FINAL_EVALUATION, RunState.WORKING):
            eta = counted.eta_s()
            return None if eta is None else max(0.0, eta - (now - counted.at_t))
        return None


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
