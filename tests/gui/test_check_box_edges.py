"""An unticked check box shows its edge in either theme, at the 3:1 contrast WCAG asks of a
control's boundary (issue 21: Compare's "Blind A/B" box was near invisible in dark, Fusion
outlining it in the colour of the window)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionButton

from studio.gui import theme
from studio.gui.pages.compare_page import ComparePage


@pytest.fixture
def restore_theme():
    app = QApplication.instance()
    style, palette, sheet = app.style().name(), app.palette(), app.styleSheet()
    yield app
    app.setStyle(style)
    app.setPalette(palette)
    app.setStyleSheet(sheet)


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours (1: the same, 21: black on white)."""
    def luminance(c: QColor) -> float:
        channels = [v / 255 for v in (c.red(), c.green(), c.blue())]
        linear = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_blind_ab_box_shows_its_edge_unticked(qtbot, state, restore_theme, dark):
    theme.apply(restore_theme, dark=dark)
    page = ComparePage(state)
    qtbot.addWidget(page)
    page.resize(960, 640)
    page.show()
    box = page.blind
    assert not box.isChecked()
    option = QStyleOptionButton()
    box.initStyleOption(option)
    indicator = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    image = box.grab().toImage()
    ratio = image.devicePixelRatio()
    window = box.palette().color(QPalette.ColorRole.Window)
    middle = int((indicator.top() + indicator.height() / 2) * ratio)
    edge = [image.pixelColor(int((indicator.left() + dx) * ratio), middle) for dx in (0, 1)]
    best = max(contrast(colour, window) for colour in edge)
    assert best >= 3.0, f"the box's edge {[c.name() for c in edge]} on {window.name()}: contrast {best:.2f}"
    page.shutdown()
