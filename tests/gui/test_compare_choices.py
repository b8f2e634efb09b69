"""The Compare page's adapter boxes list the library's versions, read in the pool: the GUI
thread never opens the library, and what the user chose meanwhile stays chosen."""

from __future__ import annotations

from library_support import make_adapter
from test_library_reads import gui_thread_opens

from studio.core.cards import Card
from studio.core.library import Library
from studio.gui.pages.compare_page import NONE, ComparePage


def items(page: ComparePage, slot: int = 0) -> list[str]:
    combo = page.slots[slot]
    return [combo.itemText(i) for i in range(combo.count())]


def test_the_boxes_follow_the_library_read_off_the_gui_thread(qtbot, state, studio_home, tmp_path, monkeypatch):
    with Library() as library:
        library.add(make_adapter(tmp_path / "a"), Card(name="pirate"))
    opened = gui_thread_opens(monkeypatch)
    page = ComparePage(state)
    qtbot.addWidget(page)
    page.show()
    assert page.looking_up()
    qtbot.waitUntil(lambda: not page.looking_up(), timeout=10_000)
    assert items(page) == [NONE, "pirate/v1"] and items(page, 3) == [NONE, "pirate/v1"]
    assert opened and "gui" not in opened, opened
    with Library() as library:  # a run lands while the page is open
        library.add(make_adapter(tmp_path / "b"), Card(name="poet"))
    opened.clear()
    state.library_changed.emit()
    page.set_adapters(["pirate/v1", "/some/checkpoint"])  # chosen before the list came back
    qtbot.waitUntil(lambda: not page.looking_up(), timeout=10_000)
    assert items(page, 1) == [NONE, "pirate/v1", "poet/v1"]
    assert page.adapters() == ["pirate/v1", "/some/checkpoint"]
    assert opened and "gui" not in opened, opened
    page.shutdown()
