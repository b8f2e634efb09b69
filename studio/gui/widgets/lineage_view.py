"""A small lineage graph: parents on the left, the adapter in the middle, children on the right.

Painted directly: adapters have a handful of parents and children, and a graph
library would cost more start-up time than it saves. Clicking a box asks to show
that version.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

BOX_H, GAP, PAD = 24, 8, 6


class LineageView(QWidget):
    ref_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.parents: list[str] = []
        self.current = ""
        self.children: list[str] = []
        self._boxes: list[tuple[str, QRectF]] = []
        self.setMinimumHeight(BOX_H + 2 * PAD)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Where this adapter came from (left) and what was made from it (right); click one to show it")

    def show_lineage(self, current: str, parents: list[str], children: list[str]) -> None:
        self.current, self.parents, self.children = current, list(parents), list(children)
        rows = max(1, len(self.parents), len(self.children))
        self.setFixedHeight(rows * (BOX_H + GAP) - GAP + 2 * PAD)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, self.height())

    def boxes(self) -> list[tuple[str, QRectF]]:
        return list(self._boxes)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = (self.width() - 2 * PAD - 2 * 24) / 3
        columns = [(self.parents, PAD), ([self.current] if self.current else [], PAD + width + 24),
                   (self.children, PAD + 2 * (width + 24))]
        text = self.palette().text().color()
        accent = self.palette().highlight().color()
        metrics = QFontMetrics(self.font())
        self._boxes = []
        centres: list[list[QPointF]] = []
        for index, (refs, x) in enumerate(columns):
            top = (self.height() - (len(refs) * (BOX_H + GAP) - GAP)) / 2
            points = []
            for row, ref in enumerate(refs):
                rect = QRectF(x, top + row * (BOX_H + GAP), width, BOX_H)
                fill = QColor(accent if index == 1 else self.palette().mid().color())
                fill.setAlpha(200 if index == 1 else 60)
                painter.setPen(QPen(accent if index == 1 else text, 1))
                painter.setBrush(fill)
                painter.drawRoundedRect(rect, 5, 5)
                painter.setPen(self.palette().highlightedText().color() if index == 1 else text)
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter,
                                 metrics.elidedText(ref, Qt.TextElideMode.ElideMiddle, int(width) - 8))
                self._boxes.append((ref, rect))
                points.append(QPointF(rect.left(), rect.center().y()) if index else QPointF(rect.right(),
                                                                                            rect.center().y()))
            centres.append(points)
        if self.current:
            middle = next(r for ref, r in self._boxes if ref == self.current)
            painter.setPen(QPen(text, 1))
            for point in centres[0]:
                painter.drawLine(point, QPointF(middle.left(), middle.center().y()))
            for point in centres[2]:
                painter.drawLine(QPointF(middle.right(), middle.center().y()), point)
        if not self.parents and not self.children and self.current:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(QRectF(PAD, 0, width, self.height()), Qt.AlignmentFlag.AlignCenter, "no parents")
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        for ref, rect in self._boxes:
            if rect.contains(event.position()) and ref != self.current:
                self.ref_clicked.emit(ref)
                return
