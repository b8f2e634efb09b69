"""One small titled chart: named curves updated in place with ``setData``.

Curves are made once and only ever get new data; downsampling and clip-to-view
keep a redraw cheap however long the run (pyqtgraph draws about as many points as
the chart has pixels). A line needs two points: a lone one (a run after its first
step) is drawn as a dot, so a chart with data never looks empty.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPalette, QPen
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.gui import theme


def is_dark() -> bool:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def colours() -> list[str]:
    return theme.chart_colours(is_dark())


class MetricChart(QWidget):
    def __init__(self, title: str, x_label: str = "step", legend: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        base = QApplication.palette().color(QPalette.ColorRole.Base)
        text = QApplication.palette().color(QPalette.ColorRole.Text)
        self._text = text
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._point_curves: set[str] = set()  # drawn as symbols from the start (eval loss, checkpoints)
        self.lines: dict[str, pg.InfiniteLine] = {}
        self._versions: dict[str, int] = {}
        self._zero_based = False
        self._min_top = self._base_min_top = 0.0
        self._tops: dict[str, float] = {}
        # The title and latest value are Qt labels above the plot, not a pyqtgraph title:
        # a new value then repaints one label instead of relaying out the whole plot.
        self.title_label = QLabel(title)
        font = self.title_label.font()
        font.setPointSizeF(9.5)
        font.setBold(True)
        self.title_label.setFont(font)
        self.value_label = QLabel("")
        muted = QColor(text)
        muted.setAlpha(160)
        self.value_label.setStyleSheet(f"QLabel {{ color: {muted.name(QColor.NameFormat.HexArgb)}; }}")
        self.plot_widget = pg.PlotWidget(background=base)
        plot = self.getPlotItem()
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMenuEnabled(False)
        plot.getViewBox().setLimits(xMin=0)  # steps and minutes both start at 0
        plot.hideButtons()
        small = QFont()
        small.setPointSizeF(8)
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setTickFont(small)
            axis.setPen(pg.mkPen(text, width=1))
            axis.setTextPen(pg.mkPen(text))
            # Small charts: label fewer ticks (pyqtgraph fills up to 80% of an axis with text).
            axis.setStyle(textFillLimits=[(0, 0.45), (2, 0.3), (4, 0.2), (6, 0.0)])
        for side in ("left", "bottom"):
            # Axes (with their grid lines) are cached as pixmaps: a new point repaints the
            # curve, not every tick label and grid line again.
            plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.getAxis("left").setWidth(44)
        plot.enableAutoRange(x=False)
        self._x_max = 0.0
        self._x_top = 0.0
        plot.setLabel("bottom", x_label, **{"font-size": "8pt", "color": text.name()})
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        plot.layout.setContentsMargins(2, 0, 8, 2)
        base_see_through = QColor(base)
        base_see_through.setAlpha(210)
        self.legend = plot.addLegend(offset=(-6, 6), labelTextSize="8pt", labelTextColor=text,
                                     brush=pg.mkBrush(base_see_through)) if legend else None
        if self.legend is not None:
            self.legend.setVisible(False)  # until a curve with data is in it
        self.legend_wanted = True  # False: kept hidden (a chart too small for it; its tooltip says instead)
        self.legend_in_a_row = False  # True: one row across the top, hidden where the chart is too narrow

        head = QHBoxLayout()
        head.setContentsMargins(10, 6, 10, 0)
        head.addWidget(self.title_label)
        head.addStretch(1)
        head.addWidget(self.value_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(head)
        layout.addWidget(self.plot_widget, 1)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, base)
        self.setPalette(palette)
        self.setAutoFillBackground(True)
        self.setMinimumSize(180, 130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def getPlotItem(self) -> pg.PlotItem:
        return self.plot_widget.getPlotItem()

    def add_curve(self, name: str, colour: str, label: str | None = None, width: float = 1.0,
                  alpha: int = 255, dashed: bool = False, symbol: str | None = None,
                  symbol_size: int = 7) -> pg.PlotDataItem:
        """A curve (or, with ``symbol`` and no line, points) drawn from ``set_data(name, ...)``."""
        pen_colour = QColor(colour)
        pen_colour.setAlpha(alpha)
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        pen = None if symbol and width == 0 else pg.mkPen(pen_colour, width=width, style=style)
        item = self.getPlotItem().plot(
            [], [], pen=pen, name=label, symbol=symbol, symbolSize=symbol_size,
            symbolBrush=pg.mkBrush(colour) if symbol else None,
            symbolPen=pg.mkPen(QApplication.palette().color(QPalette.ColorRole.Base), width=1) if symbol else None)
        if symbol is not None:
            self._point_curves.add(name)
        else:
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            if width > 1:
                item.curve.setSegmentedLineMode("on")  # a wide antialiased path is ~5x slower to paint
        self.curves[name] = item
        return item

    def add_hline(self, name: str, colour: str, tip: str = "") -> pg.InfiniteLine:
        """A dashed horizontal line (e.g. the card's memory), hidden until ``set_line``."""
        line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine))
        line.setToolTip(tip)
        line.setVisible(False)
        self.getPlotItem().addItem(line, ignoreBounds=False)
        self.lines[name] = line
        return line

    def set_line(self, name: str, value: float) -> None:
        line = self.lines[name]
        if line.value() != value or not line.isVisible():
            line.setValue(value)
            line.setVisible(True)
        if self._zero_based and value > self._min_top:
            self._min_top = value
            self._fit_y()

    def zero_based(self, min_top: float = 0.0) -> None:
        """Keep 0 at the bottom and at least ``min_top`` in view (percentages, memory)."""
        self._zero_based = True
        self._min_top = self._base_min_top = min_top
        self.getPlotItem().getViewBox().enableAutoRange(y=False)
        self.getPlotItem().setYRange(0, min_top or 1.0, padding=0)

    def is_current(self, name: str, version: int) -> bool:
        return self._versions.get(name) == version

    def set_data(self, name: str, x: np.ndarray, y: np.ndarray, version: int | None = None) -> bool:
        """Hand the curve new points; skipped when ``version`` says nothing changed."""
        if version is not None and self._versions.get(name) == version:
            return False
        item = self.curves[name]
        self._mark(name, len(x))
        if self._zero_based and len(y):
            self._tops[name] = float(np.max(y))
            self._fit_y()
        item.setData(x, y)
        if len(x):
            self._grow_x(float(x[-1]))
        if version is not None:
            self._versions[name] = version
        if self.legend is not None and self.legend_wanted and len(x) and self.legend.items \
                and not self.legend.isVisible():
            self.legend.setVisible(True)
        return True

    def _mark(self, name: str, count: int) -> None:
        """Dots where a line shows too little: a lone point, and a system series' first few
        (one point per ~2 s)."""
        if name in self._point_curves:
            return
        item = self.curves[name]
        wanted = "o" if count < (30 if self._zero_based else 2) else None
        if item.opts["symbol"] == wanted:
            return
        item.setSymbol(wanted)
        item.setSymbolSize(4 if self._zero_based else 7)
        pen = item.opts["pen"]
        item.setSymbolBrush(pen.color() if isinstance(pen, QPen) else None)
        item.setSymbolPen(None)

    def _grow_x(self, x_last: float) -> None:
        """Widen the x axis in steps (to a round number ~10% ahead), so the axis is redrawn
        now and then rather than at every new point."""
        self._x_max = max(self._x_max, x_last)
        if self._x_max > self._x_top:
            self._x_top = nice_ceiling(self._x_max * 1.05)
            self.getPlotItem().setXRange(0, self._x_top, padding=0.01)

    def fit_x(self) -> None:
        """Fit the x axis to the data exactly (the run is over: it will not grow)."""
        if self._x_max > 0 and self._x_top != self._x_max:
            self._x_top = self._x_max
            self.getPlotItem().setXRange(0, self._x_max, padding=0.02)

    def _fit_y(self) -> None:
        top = max([self._min_top, *self._tops.values()]) * 1.08 or 1.0
        self.getPlotItem().setYRange(0, top, padding=0)

    def want_legend(self, wanted: bool) -> None:
        """Show the legend (once a curve has data), or keep it hidden."""
        self.legend_wanted = wanted
        if self.legend is not None:
            self.legend.setVisible(wanted and bool(self.legend.items) and any(
                self.point_count(name) for name in self.curves))

    def fit_legend(self) -> None:
        """Lay the legend's entries out in one row across the top, shown only where the chart is wide
        enough for it: a column (or a second row) of entries covered a small chart's curves, and
        was cut off at its bottom. Hidden, the chart's tooltip names its lines."""
        if self.legend is None or not self.legend.items or not self.legend_in_a_row:
            return
        self.legend.setColumnCount(len(self.legend.items))
        self.legend.layout.activate()
        self.want_legend(self.legend.layout.preferredWidth() <= self.width() - 20)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_legend()

    def set_title(self, title: str, value: str = "") -> None:
        """The title, and the latest value at the right in a quieter colour."""
        if self.title_label.text() != title:
            self.title_label.setText(title)
        if self.value_label.text() != value:
            self.value_label.setText(value)

    def point_count(self, name: str) -> int:
        data = self.curves[name].xData
        return 0 if data is None else len(data)

    def clear_data(self) -> None:
        for name, item in self.curves.items():
            item.setData([], [])
            self._versions.pop(name, None)
        for line in self.lines.values():
            line.setVisible(False)
        self._tops.clear()
        self._x_max = self._x_top = 0.0
        if self._zero_based:
            self._min_top = self._base_min_top  # not the last run's card total
            self._fit_y()
        if self.legend is not None:
            self.legend.setVisible(False)


def nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k) >= ``value``."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * scale >= value * (1 - 1e-9))
