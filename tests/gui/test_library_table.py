"""The Library table's Name column shows every name whole at the smallest window, at 100% and
200% (test_ui_scale), with the whole reference in its tooltip (issue 21: a name was cut off)."""

from __future__ import annotations

import pytest
from library_support import make_adapter
from PySide6.QtWidgets import QStyle

from studio.core.cards import Card
from studio.core.library import Library
from studio.gui.background import tasks_in_flight

NAMES = ("captain-lora-demo", "merged-captain-lora-demo", "captain-lora-demo-with-a-rather-long-name")


def library_card(name: str) -> Card:
    return Card.from_dict({"name": name, "method": "lora",
                           "base_model": {"id": "bundled", "name": "SmolLM2-135M-Instruct"},
                           "lora": {"r": 8, "alpha": 16},
                           "peft_config": {"r": 8, "target_modules": ["q_proj", "v_proj"]},
                           "dataset": {"path": "bundled", "rows_train": 294}})


@pytest.mark.parametrize("names", [NAMES[:1], NAMES[:2], NAMES], ids=["one", "two", "long"])
def test_every_name_shows_whole_at_the_smallest_window(qtbot, tmp_path, window, names):
    window.resize(960, 640)
    with Library() as library:
        for name in names:
            library.add(make_adapter(tmp_path / name), library_card(name))
    window.state.library_changed.emit()
    window.show_page("Library")
    table = window.library_page.table
    qtbot.waitUntil(lambda: tasks_in_flight() == 0 and table.rowCount() == len(names), timeout=10_000)
    table.selectRow(0)
    qtbot.wait(50)
    margin = 2 * (table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1)
    for row in range(table.rowCount()):
        item = table.item(row, 0)
        needs = table.fontMetrics().horizontalAdvance(item.text()) + margin
        assert table.columnWidth(0) >= needs, f"{item.text()!r} needs {needs} px, has {table.columnWidth(0)}"
        assert item.toolTip().startswith(f"{item.text()}/v1\n")
