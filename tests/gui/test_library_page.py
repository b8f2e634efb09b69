"""Library page on a real library (folders + SQLite), driving each action for real."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from library_support import make_adapter
from test_library_reads import gui_thread_opens

from studio.core.cards import Card
from studio.core.library import Library
from studio.gui.background import tasks_in_flight
from studio.gui.pages.library_page import LibraryPage


def card(name: str, loss: float, **extra) -> Card:
    return Card.from_dict({"name": name, "method": "lora", "base_model": {"id": "bundled", "name": "SmolLM2-135M-Instruct"},
            "lora": {"r": 8, "alpha": 16}, "peft_config": {"r": 8, "target_modules": ["q_proj", "v_proj"]},
            "dataset": {"path": "bundled", "rows_train": 294}, "training": {"learning_rate": 2e-4},
            "metrics": {"train_loss": loss, "perplexity": 2.9}, **extra})


@pytest.fixture
def filled(tmp_path) -> list[str]:
    library = Library()
    first = library.add(make_adapter(tmp_path / "a"), card("pirate", 1.2)).ref
    second = library.add(make_adapter(tmp_path / "b"), card("pirate", 0.9)).ref
    child = library.add(make_adapter(tmp_path / "c"), card("poet", 1.1), parents=[first]).ref
    library.close()
    return [first, second, child]


@pytest.fixture
def page(qtbot, state, filled):
    widget = LibraryPage(state)
    qtbot.addWidget(widget)
    widget.resize(1280, 760)
    widget.show()
    qtbot.waitUntil(lambda: widget.table.rowCount() == 3 and tasks_in_flight() == 0, timeout=5000)
    return widget


def refs(page: LibraryPage) -> list[str]:
    return sorted(page.table.ref_at(row) for row in range(page.table.rowCount()))


def settle(qtbot, page: LibraryPage, expected: int) -> None:
    qtbot.waitUntil(lambda: tasks_in_flight() == 0 and page.table.rowCount() == expected, timeout=5000)


def test_lists_versions_and_shows_card_curve_and_lineage(page, filled):
    assert refs(page) == sorted(filled)
    page.table.select_ref("pirate/v1")
    html = page.details.card_view.toHtml()
    assert "pirate/v1" in html and "SmolLM2-135M-Instruct" in html and "1.2000" in html
    assert page.details.lineage.children == ["poet/v1"] and page.details.lineage.parents == []
    page.table.select_ref("poet/v1")
    assert page.details.lineage.parents == ["pirate/v1"]
    page.details.lineage.ref_clicked.emit("pirate/v1")  # clicking a parent shows it
    assert page.table.selected_refs() == ["pirate/v1"]
    assert page.buttons["tag"].isEnabled() and not page.buttons["diff"].isEnabled()


def test_tag_search_notes_rename(page, qtbot):
    page.table.select_ref("pirate/v2")
    page.tag_selected("best, demo")
    settle(qtbot, page, 3)
    assert Library().resolve("pirate/v2").entry.tags == ["best", "demo"]
    page.search.setText("demo")
    settle(qtbot, page, 1)
    assert refs(page) == ["pirate/v2"]
    page.search.clear()
    settle(qtbot, page, 3)
    page.table.select_ref("poet/v1")
    page.set_notes("writes in verse")
    assert Library().card("poet/v1").notes == "writes in verse"
    page.table.select_ref("poet/v1")
    assert page.rename_selected("bard")
    settle(qtbot, page, 3)
    assert "bard/v1" in refs(page) and "poet/v1" not in refs(page)
    page.table.select_ref("pirate/v2")
    assert not page.rename_selected("bard")  # taken: said, not raised
    assert "taken" in page.message.text()


def test_delete_to_trash_and_restore(page, qtbot):
    page.table.select_ref("pirate/v1")
    page.delete_selected()
    settle(qtbot, page, 2)
    assert "pirate/v1" not in refs(page)
    page.trash_box.setChecked(True)
    settle(qtbot, page, 1)
    assert refs(page) == ["pirate/v1"] and page.buttons["restore"].isEnabled() is False
    page.table.select_ref("pirate/v1")
    assert page.buttons["restore"].isEnabled() and not page.buttons["delete"].isEnabled()
    page.restore_selected()
    settle(qtbot, page, 0)
    page.trash_box.setChecked(False)
    settle(qtbot, page, 3)


def test_export_zip_then_import_it_back(page, qtbot, tmp_path):
    page.table.select_ref("pirate/v2")
    target = tmp_path / "out" / "pirate.zip"
    page.export_selected(target)
    qtbot.waitUntil(lambda: target.exists() and tasks_in_flight() == 0, timeout=5000)
    assert "adapter_model.safetensors" in zipfile.ZipFile(target).namelist()
    page.import_path(target)
    settle(qtbot, page, 4)
    assert "pirate/v3" in refs(page) and "Imported as pirate/v3" in page.message.text()
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(hostile, "w") as handle:
        handle.writestr("../escape.txt", "no")
    page.import_path(hostile)
    qtbot.waitUntil(lambda: "outside its folder" in page.message.text(), timeout=5000)
    assert not (Path(Library().root).parent / "escape.txt").exists()


def select(page: LibraryPage, wanted: list[str]) -> None:
    from PySide6.QtWidgets import QTableWidgetSelectionRange

    page.table.clearSelection()
    for row in range(page.table.rowCount()):
        if page.table.ref_at(row) in wanted:
            page.table.setRangeSelected(QTableWidgetSelectionRange(row, 0, row, page.table.columnCount() - 1), True)


def test_diff_of_two_selected_versions(page, qtbot):
    from PySide6.QtWidgets import QTableWidget

    select(page, ["pirate/v1", "pirate/v2"])
    assert sorted(page.table.selected_refs()) == ["pirate/v1", "pirate/v2"]
    assert page.buttons["diff"].isEnabled() and page.buttons["merge"].isEnabled()
    page.buttons["diff"].click()
    qtbot.waitUntil(lambda: page.diff_dialog is not None, timeout=5000)  # once the cards are read
    table = page.diff_dialog.findChild(QTableWidget)
    rows = {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}
    assert sorted(rows["metrics.train_loss"]) == ["0.9", "1.2"]
    page.diff_dialog.close()


def test_train_more_sets_up_the_train_page(page, state, qtbot):
    pages: list[str] = []
    state.page_requested.connect(pages.append)
    page.table.select_ref("pirate/v2")
    page.train_more()
    qtbot.waitUntil(lambda: pages == ["Train"], timeout=5000)  # once the adapter's folder is read
    assert state.job.lora.continue_from == "pirate/v2" and state.job.model.path == "bundled"


def test_the_gui_thread_never_opens_the_library(page, state, qtbot, monkeypatch):
    """Listing, a version's details and lineage, a diff, Train more and Reindex each read the
    library in the pool; their answers land on the page."""
    opened = gui_thread_opens(monkeypatch)
    page.search.setText("pirate")  # poet/v1, pirate/v1's child, is filtered out of the list
    settle(qtbot, page, 2)
    page.table.select_ref("pirate/v1")
    assert page.details.lineage.children == [] and page.details_pending()  # the listed ones, at once
    qtbot.waitUntil(lambda: not page.details_pending(), timeout=5000)
    assert page.details.lineage.children == ["poet/v1"]  # the whole library's, from the index
    page.details.lineage.ref_clicked.emit("poet/v1")  # shown once the unfiltered list has it
    qtbot.waitUntil(lambda: page.table.selected_refs() == ["poet/v1"], timeout=5000)
    assert page.search.text() == "" and page.details.lineage.parents == ["pirate/v1"]
    select(page, ["pirate/v1", "pirate/v2"])
    page.buttons["diff"].click()
    qtbot.waitUntil(lambda: page.diff_dialog is not None, timeout=5000)
    page.diff_dialog.close()
    pages: list[str] = []
    state.page_requested.connect(pages.append)
    page.table.select_ref("poet/v1")
    page.buttons["train_more"].click()
    qtbot.waitUntil(lambda: pages == ["Train"], timeout=5000)
    assert state.job.lora.continue_from == "poet/v1"
    page.buttons["reindex"].click()
    qtbot.waitUntil(lambda: "Index rebuilt from the folders: 3 version(s)" in page.message.text(), timeout=5000)
    settle(qtbot, page, 3)
    assert opened and "gui" not in opened, opened


def test_a_reindex_that_fails_says_why(page, qtbot, studio_home):
    (studio_home / "library" / ".lock").unlink()
    (studio_home / "library" / ".lock").mkdir()  # the lock file can't be opened: the rebuild fails
    page.buttons["reindex"].click()
    qtbot.waitUntil(lambda: "could not be written" in page.message.text(), timeout=5000)
    assert "Index rebuilt" not in page.message.text() and ".lock" in page.message.text()


def test_the_empty_note_goes_once_adapters_arrive(qtbot, state, tmp_path):
    """Opened on an empty library, the page said so; after a run landed it kept saying so above
    the new adapters."""
    from studio.gui.pages.library_page import EMPTY_NOTE

    widget = LibraryPage(state)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: tasks_in_flight() == 0 and widget.message.lines() == [EMPTY_NOTE], timeout=5000)
    with Library() as library:
        library.add(make_adapter(tmp_path / "a"), card("pirate", 1.2))
    widget.refresh()
    settle(qtbot, widget, 1)
    assert widget.message.lines() == [] and not widget.message.isVisible()
