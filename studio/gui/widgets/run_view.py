"""Everything one run shows: header, status banner, charts, log tail and samples.

The Monitor page puts its buttons in the header and feeds it live; the Runs page
feeds it a finished run's events.jsonl. Either way events go in through
:meth:`add_events` and the end through :meth:`finish`. A run that saved an adapter
offers the next steps with it (:attr:`next_step`: the main window opens the page).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from studio.core import protocol, runs
from studio.core.outputs import ExportOutputs, MergeOutputs, TrainMetrics, TrainOutputs, outputs_for
from studio.core.records import Record
from studio.core.stage_names import is_preference, preference_metrics, run_stage
from studio.gui.widgets.completions_view import CompletionsView
from studio.gui.widgets.log_view import LogView
from studio.gui.widgets.run_charts import RunCharts
from studio.gui.widgets.run_header import RunHeader
from studio.gui.widgets.samples_list import SamplesList
from studio.gui.widgets.status_banner import StatusBanner

ERROR_TITLES = {"oom": "Out of memory", "config": "The job is not valid", "data": "A problem with the dataset",
                "model": "The model could not be loaded", "disk_full": "The disk is full",
                "internal": "The run failed"}
DIED = "The worker died without finishing"
REPLAY_SLICE_S = 0.008  # longest the window is busy with one slice of a replay
LOG_TAIL_BYTES = 64 * 1024  # enough for the log view's last 500 lines


NEXT_STEPS = (  # (where, button, tooltip); "library" needs a library reference
    ("library", "Open in Library", "Show this adapter's version in the Library: card, lineage, tags, export"),
    ("playground", "Chat in Playground", "Chat with this adapter on the Compare page's Playground tab"),
    ("compare", "Compare with base", "Ask the base model and this adapter the same prompts, side by side"),
)


class RunView(QWidget):
    checkpoint_clicked = Signal(str)  # the folder of a checkpoint marker the user clicked
    next_step = Signal(str, str)  # where ("library", "playground", "compare"), the adapter (name/vN or folder)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.checkpoints: dict[int, str] = {}  # step -> checkpoint folder
        self.header = RunHeader()
        self.banner = StatusBanner()
        self.charts = RunCharts()
        self.log = LogView()
        self.samples = SamplesList()
        self.completions = CompletionsView()
        self.run_dir: Path | None = None
        self.hello: protocol.Hello | None = None
        self.final: protocol.Event | None = None
        self.status = ""
        self.result_text = ""
        self._lines: Iterator[bytes] = iter(())
        self._bad_lines = 0
        self._replay_timer = QTimer(self)
        self._replay_timer.setInterval(0)
        self._replay_timer.timeout.connect(self._replay_slice)
        marker = self.charts.loss.curves["checkpoint"]
        marker.sigPointsClicked.connect(lambda _item, points, _ev: self.open_checkpoint(points))
        marker.setToolTip("Click a checkpoint to compare it or chat with it (Compare page)")

        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(_titled("Log", self.log))
        self.samples_box = _titled("Samples", self.samples)  # SFT and preference runs' sampled replies
        bottom.addWidget(self.samples_box)
        # A GRPO run's sampled answers and their rewards (hidden for other runs).
        self.completions_box = _titled("Completions", self.completions)
        self.completions_box.setVisible(False)
        bottom.addWidget(self.completions_box)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        bottom.setStretchFactor(2, 4)
        bottom.setSizes([600, 400, 800])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(self.charts)
        body.addWidget(bottom)
        body.setStretchFactor(0, 4)
        body.setStretchFactor(1, 1)
        body.setChildrenCollapsible(False)
        body.setSizes([560, 170])  # proportions: the log keeps ~8 lines at 800 px
        self.splitter = body
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        layout.addWidget(self.header)
        layout.addWidget(self.banner)
        layout.addWidget(body, 1)

    def reset(self, run_dir: Path | None, live: bool) -> None:
        self._replay_timer.stop()
        self.checkpoints = {}
        self.run_dir = Path(run_dir) if run_dir else None
        self.hello = self.final = None
        self.status = "running" if live else ""
        self.result_text = ""
        self.header.reset(self.run_dir.name if self.run_dir else "", live)
        self.banner.clear()
        self.charts.clear()
        self.charts.set_stage(run_stage(self.run_dir))  # job.json: a small file, read once per run shown
        self.log.reset()
        self.samples.clear()
        self.completions.clear()
        self._show_completions(self.charts.stage == "grpo")

    def _show_completions(self, grpo: bool) -> None:
        """A GRPO run's answers and their rewards in place of the samples, which it never sends."""
        self.completions_box.setVisible(grpo)
        self.samples_box.setVisible(not grpo)

    def add_events(self, events: Sequence[protocol.Event], charts: bool = True) -> None:
        if charts:
            self.charts.add_events(events)
        self.header.add_events(events)
        self.samples.add_events(events)
        self.completions.add_events(events)
        if self.completions.step is not None and not self.completions_box.isVisibleTo(self):
            self._show_completions(True)  # a GRPO run whose job.json is gone
        notes = []
        for event in events:
            if event.type == "hello" and isinstance(event.pid, int):
                self.hello = event
            elif event.type == "warning":
                notes.append(f"[warning] {event.message}")
            elif event.type == "checkpoint":
                notes.append(f"[checkpoint] step {event.step}: {event.path}")
                self.checkpoints[int(event.step)] = str(event.path)
            elif event.type in protocol.FINAL_EVENTS:
                self.final = event
        if notes:
            self.log.append_lines(notes)

    def replay_file(self, run_dir: Path) -> None:
        """Replay a finished run's events.jsonl a slice at a time (a few ms each), so even a
        run of a million events opens without freezing the window."""
        self.reset(run_dir, live=False)
        try:
            raw = (Path(run_dir) / runs.EVENTS_NAME).read_bytes()
        except OSError:
            raw = b""
        lines = raw.split(b"\n")
        # Say how it ended first: the banner then takes its place before the charts fill,
        # so they are not laid out (and repainted) again at the end.
        final = _last_final(lines)
        self.finish(_final_status(final, runs.job_kind(run_dir)), final, redraw=False)
        self._lines = iter(lines)  # a torn last line fails to decode and is skipped
        self._bad_lines = 0
        self._replay_timer.start()

    def _replay_slice(self) -> None:
        deadline = time.perf_counter() + REPLAY_SLICE_S
        batch: list[protocol.Event] = []
        for count, line in enumerate(self._lines):
            if line.strip():
                try:
                    batch.append(protocol.decode(line))
                except protocol.ProtocolError:
                    self._bad_lines += 1
            if count % 64 == 63 and time.perf_counter() > deadline:
                break
        else:
            self._replay_timer.stop()
        if batch:
            self.add_events(batch)
        if not self._replay_timer.isActive():
            if self._bad_lines:
                self.add_bad_line(f"{self._bad_lines} line(s) were not valid events")
            self.add_log(_tail(self.run_dir / runs.LOG_NAME) or _tail(self.run_dir / runs.LAUNCH_LOG_NAME))
            self.header.finish(self.status)  # the phase events replayed since moved it on

    def open_checkpoint(self, points) -> str | None:
        """The clicked checkpoint marker's folder, handed on if it still exists (older ones
        are removed as training keeps only the last few)."""
        if not points or not self.checkpoints:
            return None
        step = min(self.checkpoints, key=lambda s: abs(s - points[0].pos().x()))
        folder = self.checkpoints[step]
        if not (Path(folder) / "adapter_config.json").is_file():
            self.log.append_lines([f"[checkpoint] step {step} is no longer on disk ({folder})"])
            return None
        self.checkpoint_clicked.emit(folder)
        return folder

    def add_log(self, text: str) -> None:
        self.log.append_text(text)

    def add_bad_line(self, message: str) -> None:
        self.log.append_lines([f"[skipped a bad line in events.jsonl] {message}"])

    def finish(self, status: str, final: protocol.Event | None, redraw: bool = True) -> None:
        """Say how the run ended, in the header and the banner."""
        self.status = status
        self.final = final or self.final
        self.log.flush()
        if redraw:
            self.charts.redraw()  # the last points now, not on the next tick
        self.charts.finish()
        self.header.finish(status)
        final = self.final
        if isinstance(final, protocol.Done):
            kind = runs.job_kind(self.run_dir) if self.run_dir is not None else "train"
            self._done(status, outputs_for(kind, final.outputs, "the run's done event"))
        elif isinstance(final, protocol.Error) and final.kind == "cancelled":
            self.result_text = final.message or "Cancelled; nothing was saved."
            self.banner.show_message("info", "Cancelled", self.result_text)
        elif isinstance(final, protocol.Error):
            title = ERROR_TITLES.get(str(final.kind), "The run failed")
            self.result_text = f"{title} ({final.kind}): {final.message}"
            self.banner.show_message("error", f"{title}  ·  {final.kind}", str(final.message), str(final.hint or ""))
        elif status == "failed":
            self.result_text = DIED
            self.banner.show_message(
                "error", DIED, "It was killed or crashed before it could report an error; worker.log (or "
                "launch.log, if it died while starting) in the run folder may say why.", "resume from the last checkpoint with `lora-studio train --resume RUN`")
        else:
            self.result_text = status

    def _done(self, status: str, outputs: Record | None) -> None:
        metrics = outputs.metrics if isinstance(outputs, TrainOutputs) else TrainMetrics()
        if isinstance(outputs, ExportOutputs):
            what, where = "Model", outputs.output_dir
        else:
            what, where = "Adapter", outputs.adapter_path if isinstance(outputs, TrainOutputs | MergeOutputs) else None
        stopped = status == "stopped" or (isinstance(outputs, TrainOutputs) and outputs.stopped)
        step = metrics.steps
        title = f"Stopped safely at step {step}" if stopped and step is not None else \
            "Stopped safely" if stopped else "Finished"
        ref = outputs.library_ref if isinstance(outputs, TrainOutputs | MergeOutputs) else None
        self.result_text = f"{title}. {what} saved to {where or '—'}"
        self.banner.show_message("success", f"{title}  ·  {ref}" if ref else title, f"{what}: {where or '—'}", "")
        saved = f"In the library as {ref}. {what} folder: {where or '—'}" if ref else f"{what}: {where or '—'}"
        self.banner.message.setText(f"{saved}\n{format_metrics(metrics, self.charts.stage)}".rstrip())
        adapter = ref or (where if isinstance(outputs, TrainOutputs | MergeOutputs) else None)
        if adapter:
            self.banner.set_next_steps([
                (label, tip, lambda to=to: self.next_step.emit(to, adapter))
                for to, label, tip in NEXT_STEPS if to != "library" or ref])


def format_metrics(metrics: TrainMetrics, stage: str = "sft") -> str:
    """A finished run's numbers in one line. A preference run's loss is no language-model loss: its
    perplexity (exp of it) means nothing and is left out, and its reward margin and pairs ranked right
    are shown instead (on the held-out pairs where it was evaluated); a GRPO run's, its mean reward."""
    numbers = metrics.preference or {}
    grpo = stage == "grpo" or "reward" in numbers or "eval_reward" in numbers
    preference = is_preference(stage) or grpo or bool(numbers)
    reward = numbers.get("eval_reward", numbers.get("reward")) if grpo else None
    reward = reward if isinstance(reward, int | float) and not isinstance(reward, bool) else None
    parts = []
    for value, label, spec in ((metrics.train_loss, "train loss", "{:.4f}"), (metrics.eval_loss, "eval loss", "{:.4f}"),
                               *preference_metrics(metrics.preference),
                               (reward, "eval reward" if "eval_reward" in numbers else "reward", "{:.3f}"),
                               (None if preference else metrics.perplexity, "perplexity", "{:.2f}"),
                               (metrics.steps, "steps", "{:,}"),
                               # what the run trained, not the dataset's size (train_tokens: a stop trains fewer)
                               (metrics.tokens_trained, "tokens trained", "{:,}"),
                               (metrics.tokens_per_s, "average tokens/s", "{:,.0f}")):  # the run's real average
        if value is not None:
            parts.append(f"{label} {spec.format(value)}")
    return "  ·  ".join(parts)


def _final_status(final: protocol.Event | None, kind: str) -> str:
    """How a finished run ended, from its last event (as runs.summarize tells it)."""
    if isinstance(final, protocol.Done):
        outputs = outputs_for(kind, final.outputs, "the run's done event")
        return "stopped" if isinstance(outputs, TrainOutputs) and outputs.stopped else "done"
    if isinstance(final, protocol.Error):
        return "cancelled" if final.kind == "cancelled" else "failed"
    return "failed"


def _last_final(lines: list[bytes]) -> protocol.Event | None:
    for line in reversed(lines[-50:]):
        if b'"done"' in line or b'"error"' in line:
            try:
                event = protocol.decode(line)
            except protocol.ProtocolError:
                continue
            if event.type in protocol.FINAL_EVENTS:
                return event
    return None


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - LOG_TAIL_BYTES))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 0)
    layout.setSpacing(4)
    label = QLabel(title)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box
