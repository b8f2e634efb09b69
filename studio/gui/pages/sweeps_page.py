"""Sweeps page: the hyperparameter sweeps on this machine, each with its trials, the objective
per trial with the best so far, what mattered, and "Use the best".

A sweep runs in a driver process of its own (``lora-studio sweep FILE``, core.sweeps.driver),
its trials through the queue, so closing the window stops nothing. The page reads the study
(Optuna's SQLite) in a pool thread every few seconds while it is shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.job_schema import JobError
from studio.gui import run_launcher
from studio.gui.app_state import AppState
from studio.gui.background import run_in_background
from studio.gui.page_help import PAGE_HELP
from studio.gui.widgets.list_table import SortKeyItem, style_list_table
from studio.gui.widgets.metric_chart import MetricChart, colours
from studio.gui.widgets.note_delegate import NoteDelegate, mark_note
from studio.gui.widgets.page_title import page_title

COLUMNS = ("Trial", "State", "Parameters", "Objective", "Run / note")
REFRESH_MS = 3000


def _read(name: str | None):
    """Pool thread: the sweeps' names and the chosen one's study (Optuna is imported here, not at start-up)."""
    from studio.core.sweeps import study

    names = study.sweep_names()
    chosen = name if name in names else (names[-1] if names else None)
    return names, study.read_study(chosen) if chosen else None


class SweepsPage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.view = None  # core.sweeps.study.StudyView of the chosen sweep
        self._loading = False
        heading, subtitle = page_title("Sweeps", "Search learning rate, rank and any other setting: trials run "
                                                 "through the queue, bad ones stop early, the best lands in the "
                                                 "library.")
        heading.setToolTip(PAGE_HELP.get("Sweeps", ""))
        self.names = QListWidget()
        self.names.setToolTip("The sweeps on this machine (<home>/sweeps/)")
        self.names.currentTextChanged.connect(self._chosen)
        self.run_button = _button("Run a sweep file…", self.ask_run, "Check a sweep file (kind = \"sweep\") and "
                                  "run it; the same file again resumes it. docs/sweeps.md shows the format")
        self.best_button = _button("Use the best", self.use_best, "File the best finished trial's adapter in "
                                   "the library under the sweep's name, with the sweep in its card")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.importance = QLabel("")
        self.importance.setWordWrap(True)
        self.importance.setToolTip("Each setting's share of how much the objective varied (PED-ANOVA), once "
                                   "three trials have finished")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        style_list_table(self.table, COLUMNS, "Run / note")
        self.table.setSortingEnabled(False)  # in trial order: the chart under it reads the same way
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a run folder's name differs at its end
        self.table.setItemDelegateForColumn(COLUMNS.index("Run / note"), NoteDelegate(self.table))  # a note: at its end
        self.chart = MetricChart("Objective per trial", x_label="trial", legend=True)
        self.chart.legend_in_a_row = True  # across the top, above the points (a column covered them)
        self.chart.getPlotItem().getViewBox().setLimits(xMin=-1)  # trial 0 whole, not cut by the axis
        palette = colours()
        self.chart.add_curve("trials", palette[0], "trial", width=0, symbol="o")
        self.chart.add_curve("best", palette[1], "best so far", width=2)

        side = QVBoxLayout()
        side.addWidget(self.names, 1)
        side.addWidget(self.run_button)
        side_host = QWidget()
        side_host.setLayout(side)
        side.setContentsMargins(0, 0, 0, 0)
        details = QVBoxLayout()
        details.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.best_button)
        details.addLayout(head)
        # The chart under the table, not beside it: at 960x640 a chart beside it left the table
        # too narrow for its Run / note column (cut off, behind a horizontal scroll bar).
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.chart)
        split.setChildrenCollapsible(False)
        split.setSizes([330, 200])  # about nine trials' rows above a chart still tall enough to read
        details.addWidget(split, 1)
        details.addWidget(self.importance)
        details.addWidget(self.message)
        details_host = QWidget()
        details_host.setLayout(details)
        body = QSplitter()
        body.addWidget(side_host)
        body.addWidget(details_host)
        body.setSizes([180, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(heading)
        layout.addWidget(subtitle)
        layout.addWidget(body, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._show(([], None))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()

    # -- reading -----------------------------------------------------------------

    def refresh(self, background: bool = True) -> None:
        chosen = self.names.currentItem().text() if self.names.currentItem() else None
        if not background:
            self._show(_read(chosen))
            return
        if not self._loading:
            self._loading = True
            run_in_background(_read, chosen, on_done=self._show, on_error=self._failed)

    def _chosen(self, _name: str) -> None:
        self.message.setText("")  # it spoke of the sweep shown before
        self.refresh()

    def _failed(self, error: BaseException) -> None:
        self._loading = False
        self.message.setText(f"Could not read the sweep: {error}")

    def _show(self, result) -> None:
        self._loading = False
        names, view = result
        current = [self.names.item(i).text() for i in range(self.names.count())]
        if current != names:
            self.names.blockSignals(True)
            self.names.clear()
            self.names.addItems(names)
            self.names.blockSignals(False)
        if view is not None and (self.names.currentItem() is None or self.names.currentItem().text() != view.name):
            self.names.blockSignals(True)
            self.names.setCurrentRow(names.index(view.name))
            self.names.blockSignals(False)
        self.view = view
        self.best_button.setEnabled(view is not None and view.best is not None)
        if view is None:
            self.summary.setText("No sweeps yet: run a sweep file (lora-studio sweep FILE does the same).")
            self.table.setRowCount(0)
            self.importance.setText("")
            return
        counts = ", ".join(f"{n} {state}" for state, n in view.counts().items()) or "none started"
        best = f"; best: trial {view.best.number}, {view.objective} {view.best.value:.4f}" if view.best else ""
        filed = f" (in the library as {view.best_ref})" if view.best_ref else ""
        self.summary.setText(f"<b>{view.name}</b>: {len(view.trials)} of {view.planned or '?'} trials "
                             f"({counts}), {_goal(view)}{best}{filed}")
        self.table.setRowCount(len(view.trials))
        for row, trial in enumerate(view.trials):
            params = ", ".join(f"{k.rpartition('.')[2]}={v:.3g}" if isinstance(v, float) else
                               f"{k.rpartition('.')[2]}={v}" for k, v in trial.params.items())
            value = f"{trial.value:.4f}" if trial.value is not None else (
                f"{trial.curve[-1][1]:.4f} at step {trial.curve[-1][0]}" if trial.curve else "")
            star = " ★" if view.best is not None and trial.number == view.best.number else ""
            cells = ((f"{trial.number}{star}", trial.number), (trial.state, trial.state), (params, params),
                     (value, trial.value), (trial.note or Path(trial.run_dir).name, trial.note))
            for column, (text, key) in enumerate(cells):
                item = SortKeyItem(text, key)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
            note = self.table.item(row, COLUMNS.index("Run / note"))
            mark_note(note, bool(trial.note))
            if trial.note and trial.run_dir:  # a pruned or failed trial's note stands where its run folder was
                note.setToolTip(f"{trial.note}\nrun {Path(trial.run_dir).name}")
        self._plot(view)
        self.importance.setText("What mattered: " + ", ".join(f"{k} {v:.0%}" for k, v in view.importance.items())
                                if view.importance else "")

    def _plot(self, view) -> None:
        """Each finished trial's objective and the best so far, framed with room round the points:
        trial 0 clear of the axis, the top clear of the legend's row."""
        done = [(t.number, t.value) for t in view.trials if t.value is not None]
        x = np.array([n for n, _ in done], dtype=float)
        y = np.array([v for _, v in done], dtype=float)
        best = np.maximum if getattr(view, "direction", "minimize") == "maximize" else np.minimum
        self.chart.set_data("trials", x, y)
        self.chart.set_data("best", x, best.accumulate(y) if len(y) else y)
        self.chart.fit_legend()
        if not len(y):
            return
        plot = self.chart.getPlotItem()
        last = max([t.number for t in view.trials] + [int(x[-1])])
        plot.setXRange(-0.5, last + 0.5, padding=0)
        low, high = float(y.min()), float(y.max())
        span = (high - low) or abs(high) * 0.1 or 1.0
        plot.setYRange(low - 0.12 * span, high + 0.4 * span, padding=0)

    # -- acting ------------------------------------------------------------------

    def ask_run(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Run a sweep file", "", "Sweep files (*.toml *.json)")
        if path:
            self.run_file(Path(path))

    def run_file(self, path: Path) -> bool:
        """Check the file here (its problems listed, nothing started), then start its driver detached."""
        from studio.core.sweeps.spec import load_sweep, planned_trials

        try:
            spec = load_sweep(path)
        except JobError as exc:
            self.message.setText(f"Can't run {path.name}: " + "; ".join(map(str, exc.issues)))
            return False
        try:
            run_launcher.start_sweep(path)
        except (run_launcher.LaunchError, OSError) as exc:
            self.message.setText(f"Could not start the sweep: {exc}")
            return False
        text = f"Started the sweep {spec.name}: {planned_trials(spec) or 'open-ended'} trials through the queue."
        if _queue_paused():  # else its trials wait with no word of why
            text += " The queue is paused: its trials start when you resume it on the Queue page."
        self.message.setText(text)
        return True

    def use_best(self) -> str:
        from studio.core.sweeps.driver import file_best

        if self.view is None:
            return ""
        ref = file_best(self.view.name)
        self.message.setText(f"The best adapter is {ref} in the library." if ref else "No trial has finished yet.")
        if ref:
            self.state.library_changed.emit()
        self.refresh(background=False)
        return ref


def _goal(view) -> str:
    """"minimising eval_loss"; a study that can maximise (core.sweeps.study) says so itself."""
    return view.goal() if hasattr(view, "goal") else f"minimising {view.objective}"


def _queue_paused() -> bool:
    from studio.core.queue.store import QueueStore

    with QueueStore() as store:
        return store.paused


def _button(text: str, slot, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(lambda: slot())
    return button
