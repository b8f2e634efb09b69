"""Runs page: every run in the runs folder, replayed from its own files.

The table is read in a background thread (each run's events.jsonl is parsed, and
only again when it changed), every few seconds while the page is visible. Opening a
run replays its events into the same view the Monitor page uses; two or more runs
can be overlaid on one loss chart.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core import paths, protocol, runs
from studio.core.stage_names import is_preference, run_stage, stage_tag
from studio.gui.app_state import AppState
from studio.gui.page_help import PAGE_HELP
from studio.gui.run_follower import RunFollower
from studio.gui.widgets.loss_overlay import LossOverlay
from studio.gui.widgets.run_view import RunView
from studio.gui.widgets.runs_table import RunRow, RunsTable

AUTO_REFRESH_MS = 3000
KINDS = (("All kinds", ""), ("Training", "train"), ("Evaluation", "eval"), ("Merge", "merge"),
         ("Export", "export"), ("Compare / chat", "serve"), ("Generate", "generate"))  # (shown, job kind)


class _Carrier(QObject):
    """Brings the loader thread's result back to the GUI thread (queued signal)."""
    loaded = Signal(object)


class RunsPage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._cache: dict[Path, tuple[tuple, RunRow]] = {}
        self._loading = threading.Lock()
        self._carrier = _Carrier(self)
        self._carrier.loaded.connect(self._show_rows)
        self.follower: RunFollower | None = None
        self.replayed: Path | None = None
        self.all_rows: list[RunRow] = []

        self.table = RunsTable()
        self.table.open_requested.connect(self.open_run)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.count = QLabel("")
        self.kind_filter = QComboBox()
        for text, kind in KINDS:
            self.kind_filter.addItem(text, kind)
        self.kind_filter.setToolTip("Show only runs of one kind: training, evaluations (Compare's \"Evaluate\"), "
                                    "merges, exports, or the Compare page's chat workers")
        self.kind_filter.currentIndexChanged.connect(lambda _i: self._show_rows(self.all_rows))
        self.refresh_button = _button("Refresh", self.refresh, "Read the runs folder again")
        self.open_button = _button("Open", lambda: self._open_current(), "Replay the run's charts and log")
        self.live_button = _button("Follow live", lambda: self.follow_live(), "Watch this running run on the Monitor page")
        self.overlay_button = _button("Overlay loss curves", lambda: self.overlay(),
                                      "Draw the loss of the selected runs on one chart")
        bar = QHBoxLayout()
        heading = _heading("Runs")
        heading.setToolTip(PAGE_HELP["Runs"])
        bar.addWidget(heading)
        bar.addWidget(self.count)
        bar.addStretch(1)
        bar.addWidget(self.kind_filter)
        for button in (self.refresh_button, self.open_button, self.live_button, self.overlay_button):
            bar.addWidget(button)
        hint = QLabel("Double-click a run to replay it; select two or more (Ctrl/Shift-click) to compare their loss.")
        hint.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        listing = QWidget()
        column = QVBoxLayout(listing)
        column.setContentsMargins(16, 12, 16, 12)
        column.addLayout(bar)
        column.addWidget(hint)
        column.addWidget(self.table, 1)

        self.view = RunView()
        self.replay_live_button = _button("Follow live", lambda: self.follow_live(self.replayed),
                                          "Watch it on the Monitor page, with its controls")
        replay = _with_back_bar(self.view, self.show_list, self.replay_live_button)

        self.overlay_view = LossOverlay()
        overlay_page = _with_back_bar(self.overlay_view, self.show_list, self.overlay_view.smooth)

        self.stack = QStackedWidget()
        for page in (listing, replay, overlay_page):
            self.stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self._timer = QTimer(self)
        self._timer.setInterval(AUTO_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._update_buttons()

    # -- the list ----------------------------------------------------------------
    def refresh(self, background: bool = True) -> None:
        """Read the runs folder again: in a pool thread, or right here for tests and scripts."""
        if not background:
            with self._loading:
                rows = self._load()
            self._show_rows(rows)
            return
        if self._loading.acquire(blocking=False):
            QThreadPool.globalInstance().start(self._load_in_background)

    def _load_in_background(self) -> None:
        try:
            rows = self._load()
        finally:
            self._loading.release()
        with contextlib.suppress(RuntimeError):  # the page was closed meanwhile
            self._carrier.loaded.emit(rows)

    def _load(self) -> list[RunRow]:
        """Every run, newest first; runs whose files did not change come from the cache."""
        root = paths.runs_dir()
        rows = []
        if root.is_dir():
            for run_dir in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                                  reverse=True):
                key = _change_key(run_dir)
                cached = self._cache.get(run_dir)
                if cached is None or cached[0] != key:
                    try:
                        cached = (key, RunRow(_summarize(run_dir), _time_span(run_dir), run_stage(run_dir)))
                    except OSError:
                        continue  # deleted while we looked
                    self._cache[run_dir] = cached
                rows.append(cached[1])
        return rows

    def _show_rows(self, rows: list[RunRow]) -> None:
        self.all_rows = rows
        kind = self.kind_filter.currentData()
        shown = [row for row in rows if not kind or row.summary.kind == kind]
        self.table.set_runs(shown)
        running = sum(row.summary.status == "running" for row in shown)
        counted = f"{len(shown)} of {len(rows)} runs" if kind else f"{len(rows)} run{'s' if len(rows) != 1 else ''}"
        self.count.setText(counted + (f", {running} running" if running else ""))
        self._update_buttons()

    def _update_buttons(self) -> None:
        selected = self.table.selected_paths()
        self.open_button.setEnabled(len(selected) == 1)
        self.overlay_button.setEnabled(len(selected) >= 2)
        row = self.table.rows.get(selected[0]) if len(selected) == 1 else None
        self.live_button.setEnabled(row is not None and row.summary.status == "running")

    def show_list(self) -> None:
        self._drop_follower()
        self.stack.setCurrentIndex(0)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()
        super().hideEvent(event)

    # -- one run -------------------------------------------------------------------
    def _open_current(self) -> None:
        selected = self.table.selected_paths()
        if selected:
            self.open_run(selected[0])

    def open_run(self, run_dir: Path) -> None:
        """Replay the run's events; a run still going is followed live (read-only here)."""
        self._drop_follower()
        self.replayed = Path(run_dir)
        live = runs.is_locked(self.replayed)
        self.view.reset(self.replayed, live=live)
        self.replay_live_button.setVisible(live)
        self.stack.setCurrentIndex(1)
        if not live:
            self.view.replay_file(self.replayed)
            return
        follower = RunFollower(self.replayed, parent=self)
        follower.events.connect(self.view.add_events)
        follower.log.connect(self.view.add_log)
        follower.bad_line.connect(self.view.add_bad_line)
        follower.finished.connect(self._replay_finished)
        self.follower = follower
        follower.start()

    def _replay_finished(self, status: str, final: object) -> None:
        self.view.finish(status, final if isinstance(final, protocol.Event) else None)
        self.replay_live_button.setVisible(False)

    def follow_live(self, run_dir: Path | None = None) -> None:
        """Hand a running run to the Monitor page (through the shared state)."""
        run_dir = run_dir or (self.table.selected_paths() or [None])[0]
        if run_dir is None:
            return
        self.show_list()
        self.state.run_started.emit(str(run_dir))

    def _drop_follower(self) -> None:
        if self.follower is not None:
            self.follower.dispose()
            self.follower = None

    # -- several runs --------------------------------------------------------------
    def overlay(self, run_dirs: list[Path] | None = None) -> None:
        """The training loss of several runs on one chart, one colour and legend entry each."""
        run_dirs = list(run_dirs if run_dirs is not None else self.table.selected_paths())
        if run_dirs:
            # A preference loss is no SFT loss: its legend entry names the stage ("captain-dpo · DPO").
            names = {path: f"{row.summary.name or path.name} · {stage_tag(row.stage)}" if is_preference(row.stage)
                     else row.summary.name for path, row in self.table.rows.items()
                     if row.summary.name or is_preference(row.stage)}
            self.overlay_view.show_runs(run_dirs, names)
            self.stack.setCurrentIndex(2)


def _summarize(run_dir: Path) -> runs.RunSummary:
    try:
        return runs.summarize(run_dir)
    except (ValueError, TypeError, AttributeError) as exc:  # a hand-edited events.jsonl
        return runs.RunSummary(run_dir.name, run_dir, "failed", run_dir.stat().st_mtime,
                               message=f"events.jsonl could not be read: {exc}")


def _change_key(run_dir: Path) -> tuple:
    try:
        stat = (run_dir / runs.EVENTS_NAME).stat()
        events = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        events = None
    return events, runs.is_locked(run_dir)


def _time_span(run_dir: Path) -> float | None:
    """Seconds from the first event to the last: the first line and the file's tail only."""
    path = run_dir / runs.EVENTS_NAME
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 8192))
            tail = handle.read().split(b"\n")
    except OSError:
        return None
    times = [_event_time(line) for line in (first, *reversed(tail))]
    known = [t for t in times if t is not None]
    return known[1] - known[0] if len(known) >= 2 and times[0] is not None else None


def _event_time(line: bytes) -> float | None:
    try:
        value = json.loads(line).get("t")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _button(text: str, slot, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(lambda: slot())
    return button


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.3)
    font.setBold(True)
    label.setFont(font)
    return label


def _with_back_bar(body: QWidget, back, extra: QWidget) -> QWidget:
    page = QWidget()
    column = QVBoxLayout(page)
    column.setContentsMargins(0, 8, 0, 0)
    column.setSpacing(0)
    bar = QHBoxLayout()
    bar.setContentsMargins(16, 0, 16, 0)
    bar.addWidget(_button("← All runs", back, "Back to the list of runs"))
    bar.addStretch(1)
    bar.addWidget(extra)
    column.addLayout(bar)
    column.addWidget(body, 1)
    return page
