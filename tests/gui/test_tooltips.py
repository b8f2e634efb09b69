"""Every control of the Compare and Runs pages says what it does when hovered (issue 21:
Compare had tooltips on 2 of its 28 controls)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QTabBar,
    QWidget,
)

from studio.gui.pages.compare_page import ComparePage
from studio.gui.pages.runs_page import RunsPage

CONTROLS = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit)
COMPOSITE = (QComboBox, QAbstractSpinBox, QTabBar, QAbstractItemView)  # their parts: the owner's tooltip


def controls(page: QWidget) -> list[QWidget]:
    """The page's controls, hidden ones too (each shows at some moment), less the parts of
    composite widgets (a combo box's line edit, a tab bar's scroll arrows, a table's corner)
    and a hidden button with no text yet (a banner's action: text and tip come when it shows)."""
    found = []
    for widget in page.findChildren(QWidget):
        if not isinstance(widget, CONTROLS):
            continue
        if isinstance(widget, QAbstractButton) and widget.isHidden() and not widget.text():
            continue
        owner = widget.parentWidget()
        while owner is not None and owner is not page and not isinstance(owner, COMPOSITE):
            owner = owner.parentWidget()
        if owner is None or owner is page:
            found.append(widget)
    return found


def describe(widget: QWidget) -> str:
    text = widget.text() if isinstance(widget, QAbstractButton | QLineEdit) else ""
    return f"{type(widget).__name__} {text or widget.objectName()!r} in {type(widget.parentWidget()).__name__}"


@pytest.fixture
def compare(qtbot, state):
    page = ComparePage(state)
    qtbot.addWidget(page)
    yield page
    page.shutdown()


@pytest.fixture
def runs_page(qtbot, state):
    page = RunsPage(state)
    qtbot.addWidget(page)
    return page


@pytest.mark.parametrize("name", ["compare", "runs_page"])
def test_every_control_has_a_tooltip(name, request):
    page = request.getfixturevalue(name)
    found = controls(page)
    assert len(found) >= (25 if name == "compare" else 7)  # the walk reaches the tabs and the stacked pages
    missing = [describe(w) for w in found if not w.toolTip().strip()]
    assert not missing, f"controls without a tooltip: {missing}"
