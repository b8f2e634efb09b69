"""Several runs' training loss on one chart, one colour and legend entry per run.

Loss curves of runs with different settings are the quickest comparison there is;
"Smoothed" applies the same moving average as the Monitor page's loss chart. The
legend names each run (pirate/v2) where its caller knows the name, else by its id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from studio.core import runs
from studio.gui.widgets.metric_chart import MetricChart, colours
from studio.gui.widgets.run_data import EMA_BETA


class LossOverlay(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.smooth = QCheckBox("Smoothed")
        self.smooth.setChecked(True)  # raw losses of several runs overlap into noise
        self.smooth.setToolTip(f"Exponential moving average (β = {EMA_BETA}), as on the Monitor page")
        self.smooth.toggled.connect(lambda: self.show_runs(self.run_dirs))
        self.chart = MetricChart("Training loss", legend=True)
        self.run_dirs: list[Path] = []
        self.names: dict[Path, str] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(16, 8, 16, 12)
        self._layout.addWidget(self.chart)

    def show_runs(self, run_dirs: list[Path], names: dict[Path, str] | None = None) -> None:
        """Draw the loss of ``run_dirs`` (a new chart each time: the set of curves changes),
        each labelled by its name in ``names`` (kept for the Smoothed toggle's redraw)."""
        self.run_dirs = [Path(p) for p in run_dirs]
        if names is not None:
            self.names = {Path(p): name for p, name in names.items()}
        smoothed = self.smooth.isChecked()
        old, self.chart = self.chart, MetricChart("Training loss" + (" (smoothed)" if smoothed else ""), legend=True)
        self._layout.replaceWidget(old, self.chart)
        old.deleteLater()
        palette = colours()
        labels = legend_labels(self.run_dirs, self.names)
        for index, run_dir in enumerate(self.run_dirs):
            steps, losses = step_losses(run_dir)
            self.chart.add_curve(run_dir.name, palette[index % len(palette)], labels[run_dir], width=1.8)
            self.chart.set_data(run_dir.name, steps, ema(losses) if smoothed else losses)
        self.chart.fit_x()


def legend_labels(run_dirs: list[Path], names: dict[Path, str]) -> dict[Path, str]:
    """Each run's name, else its id; a name two runs share gets the end of each id added."""
    labels = {run_dir: names.get(run_dir) or run_dir.name for run_dir in run_dirs}
    shared = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    return {run_dir: f"{label} ({run_dir.name.rsplit('-', 1)[-1]})" if label in shared and label != run_dir.name
            else label for run_dir, label in labels.items()}


def step_losses(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, losses) of a run's step events."""
    points = [(e.get("step"), e.get("loss")) for e in runs.read_events(run_dir) if e.get("type") == "step"]
    points = [(s, v) for s, v in points if isinstance(s, int | float) and isinstance(v, int | float)]
    if not points:
        return np.empty(0), np.empty(0)
    array = np.asarray(points, dtype=float)
    return array[:, 0], array[:, 1]


def ema(values: np.ndarray) -> np.ndarray:
    """Bias-corrected exponential moving average, like the Monitor page's smoothed loss."""
    out = np.empty_like(values)
    average = 0.0
    for i, value in enumerate(values):
        average = EMA_BETA * average + (1 - EMA_BETA) * value
        out[i] = average / (1 - EMA_BETA ** (i + 1))
    return out
