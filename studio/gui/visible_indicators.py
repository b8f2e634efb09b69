"""Fusion with check box and radio button edges that can be seen, on a dark window too.

Fusion outlines an indicator in the window colour made darker, which on the dark theme's
near-black window is the colour of the box itself: an unticked "Blind A/B" or "Trash" looked
like no control at all (and on the light one the edge is faint). This style draws Fusion's
indicator, then its edge again in the colour the theme gives (muted when disabled).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QProxyStyle, QStyle, QStyleFactory, QStyleOption, QWidget

EDGED = (QStyle.PrimitiveElement.PE_IndicatorCheckBox, QStyle.PrimitiveElement.PE_IndicatorRadioButton)


class VisibleIndicatorStyle(QProxyStyle):
    def __init__(self, edge: str, disabled_edge: str):
        super().__init__(QStyleFactory.create("Fusion"))
        self.edge = QColor(edge)
        self.disabled_edge = QColor(disabled_edge)

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption, painter: QPainter,
                      widget: QWidget | None = None) -> None:
        super().drawPrimitive(element, option, painter, widget)
        if element not in EDGED:
            return
        enabled = bool(option.state & QStyle.StateFlag.State_Enabled)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(self.edge if enabled else self.disabled_edge, 1))
        # Fusion's own geometry: a 1 px line on pixel centres, inside the option's rect.
        rect = QRectF(option.rect).adjusted(0.5, 0.5, -0.5, -0.5)
        if element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
            painter.drawEllipse(rect)
        else:
            painter.drawRect(rect)
        painter.restore()
