"""A stacked bar of the memory estimate's parts against the card's capacity.

Painted directly (no chart library): it redraws on every keystroke of the Train form
and must cost well under a millisecond.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from studio.core.vram import Estimate, format_bytes

# One colour per part, readable on light and dark backgrounds.
PART_COLORS = {
    "weights": "#4c78a8", "adapter": "#f58518", "gradients": "#e45756", "optimizer": "#b279a2",
    "activations": "#54a24b", "logits": "#eeca3b", "allocator": "#9d9da0", "context": "#6f6f73",
    "graphs": "#72b7b2", "loading": "#bab0ac",
    # A preference stage's reference: its forward pass without gradients, and a frozen copy of the adapter.
    "reference": "#ff9da6", "reference_adapter": "#d8b5a5",
    "generation": "#9ecae9",  # GRPO's answers being generated (their KV cache), beyond the training pass
}
OTHER_COLOR = "#8f8f8f"  # a part a newer estimator names that this bar has no colour for


def part_color(key: str) -> str:
    return PART_COLORS.get(key, OTHER_COLOR)


class VramBar(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.estimate: Estimate | None = None
        self.capacity: int | None = None
        self.setMinimumHeight(22)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:
        return QSize(300, 22)

    def show_estimate(self, estimate: Estimate | None, capacity: int | None) -> None:
        if estimate is self.estimate and capacity == self.capacity:
            return
        self.estimate, self.capacity = estimate, capacity
        self.update()

    def segments(self) -> list[tuple[str, QRectF]]:
        """(part key, rectangle) of each drawn part, left to right."""
        if self.estimate is None:
            return []
        scale_max = max(self.estimate.total, self.capacity or 0) or 1
        width, x, out = self.width() - 2, 1.0, []
        for part in self.estimate.parts:
            w = width * part.bytes / scale_max
            if w > 0:
                out.append((part.key, QRectF(x, 3, w, self.height() - 6)))
            x += w
        return out

    def capacity_x(self) -> float | None:
        if self.estimate is None or not self.capacity:
            return None
        return 1 + (self.width() - 2) * self.capacity / max(self.estimate.total, self.capacity)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        track = self.palette().mid().color()
        track.setAlpha(60)
        painter.fillRect(QRectF(1, 3, self.width() - 2, self.height() - 6), track)
        for key, rect in self.segments():
            painter.fillRect(rect, QColor(part_color(key)))
        x = self.capacity_x()
        if x is not None:
            over = self.estimate is not None and self.estimate.total > (self.capacity or 0)
            painter.setPen(QPen(QColor("#d62728" if over else self.palette().text().color()), 2))
            painter.drawLine(int(x), 0, int(x), self.height())
        painter.end()

    def mouseMoveEvent(self, event) -> None:
        for key, rect in self.segments():
            if rect.contains(event.position()):
                part = self.estimate.part(key) if self.estimate else None
                if part:
                    QToolTip.showText(event.globalPosition().toPoint(),
                                      f"{part.label}: {format_bytes(part.bytes)} ({part.note})", self)
                return
        QToolTip.hideText()


SHORT_LABELS = {"weights": "Weights", "adapter": "Adapter", "gradients": "Gradients", "optimizer": "Optimizer",
                "activations": "Activations", "logits": "Logits, loss", "allocator": "Allocator", "context": "CUDA",
                "graphs": "CUDA graphs", "loading": "Loading", "reference": "Reference pass",
                "reference_adapter": "Reference copy", "generation": "Generation"}


def legend_html(estimate: Estimate) -> str:
    """Two columns of coloured squares with each part's size (short names: the side panel is narrow)."""
    cells = [f"<td><span style='color:{part_color(p.key)}'>■</span> {SHORT_LABELS.get(p.key, p.label)}</td>"
             f"<td align='right'>{format_bytes(p.bytes)}</td>" for p in estimate.parts]
    rows = ["<tr>" + cells[i] + "<td width='10'></td>" + (cells[i + 1] if i + 1 < len(cells) else "") + "</tr>"
            for i in range(0, len(cells), 2)]
    return "<table cellspacing='0' cellpadding='1' style='font-size:11px'>" + "".join(rows) + "</table>"

