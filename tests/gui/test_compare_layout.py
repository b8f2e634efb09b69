"""The Compare page at the window's smallest size (issue 21: at 960×640 the "Adapter 2/3/4"
labels overlapped their boxes and Adapter 4 ran off the window)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QRect
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QLabel, QToolTip, QWidget

from studio.gui import theme
from studio.gui.pages.compare_page import ComparePage
from studio.gui.widgets.lineage_view import LineageView

LONG = "captain-lora-demo-with-a-long-name/v12"


def rect_in(widget: QWidget, window: QWidget) -> QRect:
    return QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())


@pytest.fixture(params=["light", "dark"])
def window(request, qtbot, state):
    """The real main window at its smallest size, in each theme (Fusion and its palette)."""
    from studio.gui.main_window import MainWindow

    app = QApplication.instance()
    style, palette = app.style().name(), app.palette()
    theme.apply(app, dark=request.param == "dark")
    win = MainWindow(state, reattach=False)
    qtbot.addWidget(win)
    win.resize(960, 640)
    win.show()
    win.show_page("Compare")
    yield win
    app.setStyle(style)
    app.setPalette(palette)


def test_the_model_row_fits_the_smallest_window_without_overlap(window, qtbot):
    page: ComparePage = window.compare_page
    page.set_adapters([LONG, LONG, LONG, LONG])
    qtbot.waitUntil(lambda: not page.looking_up(), timeout=10_000)
    qtbot.wait(50)  # the layout settles
    assert window.width() == 960  # the page does not force the window wider (it needed 1144 pixels)
    inside = window.rect()
    labels = [w for w in page.findChildren(QLabel) if w.text().startswith("Adapter ") and w.isVisible()]
    assert len(labels) == 4
    boxes = [*page.slots, page.base_box, *labels]
    for widget in boxes:
        assert inside.contains(rect_in(widget, window)), f"{widget} runs off the window"
        if isinstance(widget, QLabel | QCheckBox):
            assert widget.width() >= widget.sizeHint().width(), f"{widget.text()!r} is cut"
    for index, first in enumerate(boxes):
        for second in boxes[index + 1:]:
            assert not rect_in(first, window).intersects(rect_in(second, window)), (first, second)
    for combo in page.slots:
        assert combo.width() >= 150 and isinstance(combo, QComboBox)


def test_a_long_lineage_name_is_readable_and_whole_in_a_tooltip(qtbot):
    view = LineageView()
    qtbot.addWidget(view)
    view.resize(300, 60)
    view.show_lineage("captain-lora-demo/v2", ["captain-lora-demo/v1"], ["pirate/v1"])
    view.show()
    qtbot.waitExposed(view)
    assert view.box_lines() > 1  # wrapped, not "captain…demo/v1"
    shown = view.box_text("captain-lora-demo/v1").replace("\u200b", "")
    assert shown == "captain-lora-demo/v1"
    room = view.boxes()[0][1].width() - 10
    assert view.wrapped_lines(view.box_text("captain-lora-demo/v1"), room) <= view.box_lines()
    assert view.height() >= view.box_lines() * view.fontMetrics().lineSpacing()
    # Too long even for three lines: elided in the middle, and whole when hovered.
    assert "…" in view.box_text("a-" * 60 + "end/v1")
    ref, rect = view.boxes()[0]
    centre = rect.center().toPoint()
    QApplication.sendEvent(view, QHelpEvent(QEvent.Type.ToolTip, centre, view.mapToGlobal(centre)))
    qtbot.waitUntil(QToolTip.isVisible, timeout=2000)
    assert ref == "captain-lora-demo/v1" and ref in QToolTip.text()
