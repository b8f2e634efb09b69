"""How long a dataset's examples are in tokens, with the max_length cut drawn on top.

Choosing max_length is a trade between memory and cut-off answers; this chart shows
both sides at once: the length distribution, the line where truncation starts and
the share of examples beyond it.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from studio.core.datasets import TokenStats
from studio.gui.theme import chart_colours

OFFER_ABOVE = 0.05  # more than this share cut at max_length: offer the length 95% of the rows fit in


class TokenHistogram(QWidget):
    max_length_wanted = Signal(int)  # the offer to fit 95% of the rows was taken

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.stats: TokenStats | None = None
        self.max_length = 0
        base = self.palette().color(QPalette.ColorRole.Base)
        self._colours = chart_colours(base.lightness() < 128)
        label_fill = pg.mkBrush(base.red(), base.green(), base.blue(), 220)
        self.summary_label = QLabel()
        self.summary_label.setToolTip("Token lengths of every loaded example, special tokens included")
        self.summary_label.setWordWrap(True)
        self.truncation_label = QLabel()
        self.truncation_label.setToolTip("Examples longer than training.max_length (Train page) are cut "
                                         "there; a cut answer teaches the model to stop mid-sentence")
        self.truncation_label.setWordWrap(True)
        self.fit_button = QPushButton()
        self.fit_button.setToolTip("Set the Train page's max length so that 95% of the examples fit whole "
                                   "(longer ones are still cut; memory grows with it: see the estimate)")
        self.fit_button.clicked.connect(lambda: self.max_length_wanted.emit(self.p95_length()))
        self.fit_button.setVisible(False)
        self.plot = pg.PlotWidget()
        self.plot.setToolTip("Examples per token length; the dashed line is max_length")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "tokens per example")
        self.plot.setLabel("left", "examples")
        self.plot.showGrid(y=True, alpha=0.25)
        self.bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=self._colours[0], pen=None)
        self.plot.addItem(self.bars)
        self.cut_line = pg.InfiniteLine(angle=90, movable=False,
                                        pen=pg.mkPen(self._colours[3], width=2, style=Qt.PenStyle.DashLine),
                                        label="max_length", labelOpts={"position": 0.92, "color": self._colours[3],
                                                                   "fill": label_fill})
        self.plot.addItem(self.cut_line)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.message_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.stack, 1)
        below = QHBoxLayout()
        below.addWidget(self.truncation_label, 1)
        below.addWidget(self.fit_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(below)
        self.show_message("No dataset loaded.")

    def show_message(self, text: str) -> None:
        """No chart: say why (no dataset, no tokenizer) in its place."""
        self.stats = None
        self.message_label.setText(text)
        self.stack.setCurrentWidget(self.message_label)
        self.summary_label.setText("")
        self.truncation_label.setText("")
        self.fit_button.setVisible(False)

    def set_stats(self, stats: TokenStats, note: str = "") -> None:
        self.stats = stats
        edges = stats.bin_edges
        if len(edges) > 1:
            gap = (edges[1] - edges[0]) * 0.06  # a hairline between bars
            self.bars.setOpts(x0=[e + gap for e in edges[:-1]], x1=[e - gap for e in edges[1:]],
                              height=list(stats.histogram))
        self.stack.setCurrentWidget(self.plot)
        self.summary_label.setText(
            f"{stats.count} examples · min {stats.min} · median {stats.median:.0f} · "
            f"95% under {stats.p95:.0f} · max {stats.max} tokens"
            + (f" · <b>{stats.off_chart}</b> longer than {stats.bin_edges[-1]:.0f} off the chart" if stats.off_chart
               else "") + (f"<br><small>{note}</small>" if note else ""))
        self.set_max_length(stats.max_length)

    def set_max_length(self, max_length: int) -> None:
        self.max_length = max_length
        stats = self.stats
        if stats is None:
            return
        self.cut_line.setValue(max_length)
        low = stats.bin_edges[0] if stats.bin_edges else 0
        high = stats.bin_edges[-1] if stats.bin_edges else max_length
        # Keep the line in view unless it is far right of the data (the bars would be slivers).
        right = max(high, max_length if max_length <= high * 2.5 else 0) * 1.04
        self.plot.setXRange(min(low, max_length) * 0.96, right, padding=0)
        self.plot.enableAutoRange(axis="y")
        cut = self.truncated_count()
        if cut == 0:
            where = "" if max_length <= high * 2.5 else " (far beyond the longest example)"
            text = f"max_length {max_length}{where}: no example is truncated."
        else:
            text = (f"max_length {max_length}: <b>{cut / stats.count:.1%}</b> ({cut} of {stats.count}) "
                    "would be truncated.")
        self.truncation_label.setText(text)
        offer = cut > OFFER_ABOVE * stats.count and self.p95_length() > max_length
        self.fit_button.setText(f"Max length {self.p95_length()} (95% fit)")
        self.fit_button.setVisible(offer)

    def p95_length(self) -> int:
        """The length 95% of the examples fit in whole."""
        return math.ceil(self.stats.p95) if self.stats else 0

    def truncated_count(self) -> int:
        if self.stats is None:
            return 0
        return sum(1 for n in self.stats.lengths if n > self.max_length)

    def total_count(self) -> int:
        """Examples in the histogram: its bars and the outliers counted off the chart."""
        return sum(self.stats.histogram) + self.stats.off_chart if self.stats else 0
