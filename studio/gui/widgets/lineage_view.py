"""A small lineage graph: parents on the left, the adapter in the middle, children on the right.

Painted directly: adapters have a handful of parents and children, and a graph
library would cost more start-up time than it saves. Clicking a box asks to show
that version. A name too long for its box wraps (after a "/", "-" or "_" where it
can), is elided in the middle only beyond MAX_LINES lines, and hovering a box shows
it whole. Where a preference stage is in view, each box names its stage ("captain/v1 · SFT"
then "captain-dpo/v1 · DPO"): the usual chain is SFT first, then preference tuning on top.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from studio.core.stage_names import is_preference, stage_tag

GAP, PAD, ARROW = 8, 6, 20  # between boxes, around the graph, between columns
TEXT_MARGIN = 5  # each side of a box's text
MAX_LINES = 3  # a longer name is elided in the middle (hover for it whole)
BREAK = "\u200b"  # a zero-width space: where a wrapped name may break
TIP = "Where this adapter came from (left) and what was made from it (right); click one to show it"


class LineageView(QWidget):
    ref_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.parents: list[str] = []
        self.current = ""
        self.children: list[str] = []
        self.stages: dict[str, str] = {}  # ref -> training stage, where known
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(TIP)
        self._fit_height()

    def show_lineage(self, current: str, parents: list[str], children: list[str],
                     stages: dict[str, str] | None = None) -> None:
        self.current, self.parents, self.children = current, list(parents), list(children)
        self.stages = {ref: stage for ref, stage in (stages or {}).items() if stage}
        self._fit_height()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, self.height())

    def boxes(self) -> list[tuple[str, QRectF]]:
        """(name, box) of every adapter shown: parents, then the current one, then children."""
        width, box_h = self._box_width(), self._box_height()
        columns = [self.parents, [self.current] if self.current else [], self.children]
        found = []
        for index, refs in enumerate(columns):
            x = PAD + index * (width + ARROW)
            top = (self.height() - (len(refs) * (box_h + GAP) - GAP)) / 2
            found += [(ref, QRectF(x, top + row * (box_h + GAP), width, box_h)) for row, ref in enumerate(refs)]
        return found

    def ref_at(self, point: QPointF) -> str | None:
        return next((ref for ref, rect in self.boxes() if rect.contains(point)), None)

    def label(self, ref: str) -> str:
        """The box's words: the reference, with its stage where a preference stage is in view."""
        refs = (*self.parents, self.current, *self.children)
        if ref in self.stages and any(is_preference(self.stages.get(r, "")) for r in refs):
            return f"{ref} · {stage_tag(self.stages[ref])}"
        return ref

    def box_lines(self) -> int:
        """Lines of text in each box: as many as the longest name needs, MAX_LINES at most."""
        room = self._box_width() - 2 * TEXT_MARGIN
        refs = [self.label(ref) for ref in (*self.parents, self.current, *self.children) if ref]
        return min(MAX_LINES, max((self.wrapped_lines(_breakable(ref), room) for ref in refs), default=1))

    def box_text(self, ref: str) -> str:
        """The name (and stage) as drawn: whole where its lines hold it, else elided in the middle."""
        ref = self.label(ref)
        room = self._box_width() - 2 * TEXT_MARGIN
        metrics, lines = QFontMetrics(self.font()), self.box_lines()
        limit = lines * room
        while True:
            text = _breakable(metrics.elidedText(ref, Qt.TextElideMode.ElideMiddle, int(limit)))
            if limit <= room or self.wrapped_lines(text, room) <= lines:
                return text
            limit -= metrics.averageCharWidth()  # the break fell early: leave out a little more

    def wrapped_lines(self, text: str, width: float) -> int:
        """How many lines ``text`` takes at ``width``, wrapped as the boxes wrap it."""
        layout = QTextLayout(text, self.font())
        layout.setTextOption(_wrapping())
        layout.beginLayout()
        count = 0
        while (line := layout.createLine()).isValid():
            line.setLineWidth(width)
            count += 1
        layout.endLayout()
        return count

    def _box_width(self) -> float:
        return max(40.0, (self.width() - 2 * PAD - 2 * ARROW) / 3)

    def _box_height(self) -> int:
        return QFontMetrics(self.font()).lineSpacing() * self.box_lines() + 8

    def _fit_height(self) -> None:
        rows = max(1, len(self.parents), len(self.children))
        self.setFixedHeight(rows * (self._box_height() + GAP) - GAP + 2 * PAD)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()  # a narrower box may need its second line

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            ref = self.ref_at(QPointF(event.pos()))
            if ref is not None:
                words = self.label(ref)
                QToolTip.showText(event.globalPos(), words if ref == self.current else f"{words}: click to show it",
                                  self)
                return True
        return super().event(event)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().text().color()
        accent = self.palette().highlight().color()
        option = _wrapping()
        boxes = self.boxes()
        for ref, rect in boxes:
            current = ref == self.current
            fill = QColor(accent if current else self.palette().mid().color())
            fill.setAlpha(200 if current else 60)
            painter.setPen(QPen(accent if current else text, 1))
            painter.setBrush(fill)
            painter.drawRoundedRect(rect, 5, 5)
            painter.setPen(self.palette().highlightedText().color() if current else text)
            painter.drawText(rect.adjusted(TEXT_MARGIN, 0, -TEXT_MARGIN, 0), self.box_text(ref), option)
        if self.current:
            middle = boxes[len(self.parents)][1]
            painter.setPen(QPen(text, 1))
            for _ref, rect in boxes[:len(self.parents)]:
                painter.drawLine(QPointF(rect.right(), rect.center().y()), QPointF(middle.left(), middle.center().y()))
            for _ref, rect in boxes[len(self.parents) + 1:]:
                painter.drawLine(QPointF(middle.right(), middle.center().y()), QPointF(rect.left(), rect.center().y()))
        if not self.parents and not self.children and self.current:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(QRectF(PAD, 0, self._box_width(), self.height()), Qt.AlignmentFlag.AlignCenter,
                             "no parents")
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        ref = self.ref_at(event.position())
        if ref is not None and ref != self.current:
            self.ref_clicked.emit(ref)


def _wrapping() -> QTextOption:
    """Centred, broken at a word (or a BREAK) where it can, anywhere where it must."""
    option = QTextOption(Qt.AlignmentFlag.AlignCenter)
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    return option


def _breakable(name: str) -> str:
    """``name`` with a BREAK after each "/", "-" and "_": wrapped there rather than mid-word."""
    for mark in "/-_":
        name = name.replace(mark, mark + BREAK)
    return name
