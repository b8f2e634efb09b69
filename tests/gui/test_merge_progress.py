"""Merge page: a merge or export shows its phase, how far it is, the time left, and a Cancel
that ends the worker with nothing half-made in the library (issue 21)."""

from __future__ import annotations

import pytest
from library_support import make_adapter

from studio.core import protocol, runs
from studio.core.cards import Card
from studio.core.library import Library
from studio.gui.pages.merge_page import CANCEL_TIPS, MergePage


@pytest.fixture
def two_adapters(studio_home, tiny_model_dir, tmp_path) -> list[str]:
    """Two well-formed rank-4 adapters of the tiny model in the library (no training needed)."""
    card = Card.from_dict({"name": "pirate", "method": "lora", "base_model": {"path": str(tiny_model_dir)},
                           "lora": {"r": 4, "alpha": 8},
                           "peft_config": {"r": 4, "target_modules": ["q_proj", "v_proj"]}})
    with Library() as library:
        return [library.add(make_adapter(tmp_path / f"adapter-{n}"), card).ref for n in (1, 2)]


@pytest.fixture
def page(qtbot, state, two_adapters):
    widget = MergePage(state)
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    qtbot.waitUntil(lambda: not widget.loading(), timeout=5000)  # the list is read in the pool
    for ref in two_adapters:
        widget.check(ref)
    return widget


def refs_in_library() -> list[str]:
    with Library() as library:
        return [e.ref for e in library.entries()]


def test_phase_events_fill_the_bar_and_say_the_time_left(page):
    bar = page.progress
    assert not bar.isVisible()
    bar.start("Starting the merge worker…")
    assert bar.isVisible() and bar.bar.maximum() == 0  # busy until the worker counts
    page._on_events([protocol.Hello(pid=1, t=90.0), protocol.Phase("loading_model", detail="tiny", t=95.0)])
    assert bar.phase.text() == "Loading the base model: tiny" and bar.bar.maximum() == 0 and bar.eta.text() == ""
    page._on_events([protocol.Phase("merging", done=0, total=4, detail="loading a", t=100.0),
                     protocol.Phase("merging", done=1, total=4, detail="loading b", t=110.0)])
    assert bar.phase.text() == "Merging: loading b (1 / 4)"
    assert bar.bar.value() == bar.bar.maximum() // 4
    assert bar.eta.text() == "0:30 left"  # one part in 10 s: three more in 30
    page._on_events([protocol.Phase("merging", done=3, total=4, t=130.0)])
    assert bar.eta.text() == "0:10 left" and bar.bar.value() == 3 * bar.bar.maximum() // 4
    page._on_events([protocol.Phase("saving", detail="adding it to the library", t=131.0)])
    assert bar.bar.maximum() == 0 and bar.eta.text() == ""  # a phase with no count: busy again
    assert all(w.toolTip() for w in (bar.bar, bar.eta, bar.cancel))


@pytest.mark.integration
def test_a_merge_shows_its_progress_then_lands_in_the_library(page, qtbot):
    before = refs_in_library()
    page.merge_button.click()
    bar = page.progress
    assert page.busy() and bar.isVisible() and bar.bar.maximum() == 0
    assert bar.phase.text() == "Starting the merge worker…"
    assert bar.cancel.isEnabled() and bar.cancel.toolTip() == CANCEL_TIPS["merge"]
    lines: list[str] = []
    assert page.follower is not None
    page.follower.events.connect(lambda _events: lines.append(bar.phase.text()))
    qtbot.waitUntil(lambda: not page.busy(), timeout=180_000)
    assert not bar.isVisible()
    assert page.message.lines() == ["Merged into merged-pirate/v1 (rank 4); it is in the Library."]
    assert set(refs_in_library()) == {*before, "merged-pirate/v1"}
    assert any(line.startswith(("Loading the base model", "Merging", "Saving")) for line in lines), lines


@pytest.mark.integration
def test_cancel_ends_the_merge_and_nothing_lands_in_the_library(page, qtbot, studio_home):
    before = refs_in_library()
    run_dir = page.start_merge()
    bar = page.progress
    # Clicked in the worker's first second: held until it listens, then sent (it is still
    # importing torch then, seconds from any result).
    bar.cancel.click()
    assert not bar.cancel.isEnabled() and bar.cancel.text() == "Cancelling…"
    qtbot.waitUntil(lambda: not page.busy(), timeout=120_000)
    assert run_dir is not None and runs.summarize(run_dir).status == "cancelled"
    assert page.message.lines() == ["Merge cancelled: nothing was added to the library."]
    assert not bar.isVisible() and page.merge_button.isEnabled()
    assert refs_in_library() == before
    assert not list((studio_home / "library").glob(".merge-*"))  # no staging folder left either

    page.merge_button.click()  # the next one starts with a fresh Cancel
    assert bar.cancel.isEnabled() and bar.cancel.text() == "Cancel"
    qtbot.waitUntil(lambda: not page.busy(), timeout=180_000)
    assert "merged-pirate/v1" in refs_in_library()
