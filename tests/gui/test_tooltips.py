"""Every control of every page, and of every dialog a person opens, says what it does when
hovered (issue 21: Compare had tooltips on 2 of its 28 controls, and the other pages had gaps)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from library_support import make_adapter
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QTabBar,
    QWidget,
)
from test_library_table import library_card  # one adapter's card, for the library

from studio.core.datasets import RawRecord
from studio.core.library import Library
from studio.gui.background import tasks_in_flight
from studio.gui.main_window import PAGE_NAMES
from studio.gui.widgets.column_mapping_dialog import ColumnMappingDialog
from studio.gui.widgets.name_field import NameDialog
from studio.gui.widgets.placeholder_dialog import PlaceholderDialog
from studio.gui.widgets.status_banner import StatusBanner
from studio.gui.widgets.tools_dialog import ToolsDialog

CONTROLS = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit)
# Their parts take the owner's tooltip: a combo box's line edit, a tab bar's scroll arrows, a
# table's corner button, a line edit's clear button.
COMPOSITE = (QComboBox, QAbstractSpinBox, QTabBar, QAbstractItemView, QLineEdit)


def controls(top: QWidget) -> list[QWidget]:
    """The controls under ``top``, hidden ones too (each shows at some moment), less the parts
    of composite widgets and a hidden button with no text yet (a banner's action: text and tip
    come when it shows). A widget a table holds in a cell (a merge weight) is a control."""
    found: list[QWidget] = []
    for widget in top.findChildren(QWidget):
        if not isinstance(widget, CONTROLS):
            continue
        if isinstance(widget, QAbstractButton) and widget.isHidden() and not widget.text():
            continue
        if not _is_part(widget, top):
            found.append(widget)
    return found


def _is_part(widget: QWidget, top: QWidget) -> bool:
    child, owner = widget, widget.parentWidget()
    while owner is not None and owner is not top:
        in_a_cell = isinstance(owner, QAbstractItemView) and child is owner.viewport() and \
            widget.parentWidget() is child
        if isinstance(owner, COMPOSITE) and not in_a_cell:
            return True
        child, owner = owner, owner.parentWidget()
    return owner is None


def describe(widget: QWidget) -> str:
    text = widget.text() if isinstance(widget, QAbstractButton | QLineEdit) else ""
    return f"{type(widget).__name__} {text or widget.objectName()!r} in {type(widget.parentWidget()).__name__}"


def untipped(top: QWidget) -> list[str]:
    return [describe(w) for w in controls(top) if not w.toolTip().strip()]


@pytest.fixture
def filled_window(qtbot, tmp_path, window):
    """The main window over a library of two adapters: the Library has rows to select, Merge
    a weight per adapter, Compare adapters to choose."""
    with Library() as library:
        for name in ("captain-lora-demo", "poet"):
            library.add(make_adapter(tmp_path / name), library_card(name))
    window.state.library_changed.emit()
    qtbot.waitUntil(lambda: tasks_in_flight() == 0 and window.library_page.table.rowCount() == 2, timeout=10_000)
    yield window
    window.compare_page.shutdown()


# At least this many controls per page: proof that the walk reaches tabs, stacked pages and groups.
LEAST = {"Models": 5, "Datasets": 8, "Train": 50, "Monitor": 5, "Queue": 8, "Sweeps": 2, "Runs": 7, "Library": 15, "Merge": 10, "Compare": 25,
         "Settings": 5}


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_control_of_every_page_has_a_tooltip(qtbot, filled_window, name):
    filled_window.show_page(name)
    if name == "Library":
        filled_window.library_page.table.selectRow(0)  # the card, its curve and lineage
    qtbot.waitUntil(lambda: tasks_in_flight() == 0, timeout=10_000)
    page = filled_window.pages[name]
    assert len(controls(page)) >= LEAST[name]
    assert not untipped(page), f"{name}: controls without a tooltip: {untipped(page)}"


def test_the_merge_weights_in_the_table_are_walked(filled_window):
    spins = [w for w in controls(filled_window.merge_page) if isinstance(w.parentWidget(), QWidget)
             and isinstance(w.parentWidget().parentWidget(), QAbstractItemView)]
    assert len(spins) == 2  # one weight per adapter: a control in a cell, not a part of the table


def test_every_control_of_the_first_run_guide_has_a_tooltip(qtbot, window):
    guide = window.show_guide()
    qtbot.addWidget(guide)
    assert len(controls(guide)) == 5
    assert not untipped(guide), untipped(guide)


def mapping_dialog() -> ColumnMappingDialog:
    records = [RawRecord(row=i + 1, unit="row", data={"question": f"What is {i} + {i}?", "answer": str(2 * i)})
               for i in range(3)]
    return ColumnMappingDialog("qa.csv", records, ["question", "answer"])


@pytest.mark.parametrize("make", [
    lambda: ToolsDialog(()),
    lambda: PlaceholderDialog(["name", "author"], {"name": "Captain"}),
    mapping_dialog,
    lambda: NameDialog("Rename", "New name for poet (all versions):", "poet"),
], ids=["tools", "placeholders", "column-mapping", "rename"])
def test_every_control_of_each_dialog_has_a_tooltip(qtbot, make):
    dialog = make()
    qtbot.addWidget(dialog)
    assert len(controls(dialog)) >= 3
    assert not untipped(dialog), untipped(dialog)


def test_a_banners_action_says_what_it_does(qtbot):
    banner = StatusBanner()
    qtbot.addWidget(banner)
    banner.show_message("error", "This file cannot be used.")
    banner.set_action("Map columns…", lambda: None, "Say which column holds which field")
    assert banner.action.toolTip() == "Say which column holds which field"
    banner.show_message("info", "Another message")  # the action goes
    assert banner.action.isHidden() and not banner.action.text()
    banner.set_action("End the worker", lambda: None, "Cancel the run")  # the next one says its own
    assert banner.action.isVisibleTo(banner) and banner.action.toolTip() == "Cancel the run"


def test_the_datasets_offer_to_map_columns_has_a_tooltip(qtbot, tmp_path, window):
    path = tmp_path / "qa.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["question", "answer"], *[[f"q{i}", f"a{i}"] for i in range(5)]])
    page = window.datasets_page
    with qtbot.waitSignal(page.load_failed, timeout=30_000):
        page.open_path(Path(path))
    qtbot.waitUntil(lambda: not page.busy(), timeout=30_000)
    if page.mapping_dialog is not None:
        page.mapping_dialog.reject()
    action = page.error_label.action
    assert action.isVisibleTo(page) and action.text() == "Map columns…"
    assert action.toolTip() == page.map_button.toolTip()  # the same action as the page's own button
