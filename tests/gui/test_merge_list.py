"""The Merge page reads the library's adapters, and the base model each loads, in the pool:
the GUI thread never opens the library, and what the user ticked meanwhile stays ticked."""

from __future__ import annotations

import pytest
from library_support import make_adapter
from test_library_reads import gui_thread_opens

from studio.core.cards import Card
from studio.core.library import Library
from studio.gui.pages.merge_page import MergePage


@pytest.fixture
def base_dir(tmp_path):
    folder = tmp_path / "base-model"
    folder.mkdir()
    return folder


@pytest.fixture
def adapters(studio_home, base_dir, tmp_path) -> list[str]:
    card = Card.from_dict({"name": "pirate", "method": "lora", "base_model": {"path": str(base_dir)},
                           "lora": {"r": 4, "alpha": 8}, "peft_config": {"r": 4, "target_modules": ["q_proj"]}})
    with Library() as library:
        return [library.add(make_adapter(tmp_path / f"adapter-{n}"), card).ref for n in (1, 2)]


def test_the_list_and_each_base_are_read_off_the_gui_thread(qtbot, state, adapters, base_dir, tmp_path,
                                                             monkeypatch):
    opened = gui_thread_opens(monkeypatch)
    page = MergePage(state)
    qtbot.addWidget(page)
    page.show()
    assert page.loading()
    qtbot.waitUntil(lambda: not page.loading(), timeout=5000)
    assert [e.ref for e in page.entries] == adapters
    assert page._base_of("pirate/v2") == str(base_dir)  # what a merge or export job loads, read with the list
    with pytest.raises(Exception, match="not in the library's list"):
        page._base_of("gone/v1")
    page.check("pirate/v1")
    page.set_weight("pirate/v1", 0.4)
    assert opened and "gui" not in opened, opened
    with Library() as library:  # another window files an adapter
        library.add(make_adapter(tmp_path / "poet"), Card(name="poet"))
    opened.clear()
    state.library_changed.emit()  # read again; the tick and weight survive
    qtbot.waitUntil(lambda: "poet/v1" in [e.ref for e in page.entries], timeout=5000)
    assert page.checked_refs() == ["pirate/v1"] and page.weights() == [pytest.approx(0.4)]
    assert page._base_of("poet/v1") == state.job.model.path  # no base on its card: the chosen model
    state.merge_requested.emit(["pirate/v2", "poet/v1"], "merge")  # from the Library page
    qtbot.waitUntil(lambda: not page.loading() and page.checked_refs() == ["pirate/v2", "poet/v1"], timeout=5000)
    state.merge_requested.emit(["poet/v1"], "export")
    qtbot.waitUntil(lambda: page.export_adapter.currentText() == "poet/v1", timeout=5000)
    assert len(opened) == 3 and "gui" not in opened, opened  # the three reads of the list, in the pool
