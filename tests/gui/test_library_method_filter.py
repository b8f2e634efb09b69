"""The Library page's method filter offers every registered method, and finds each one's
adapters by the label their cards carry (core.methods' one rule)."""

from __future__ import annotations

import json

import pytest
from library_support import make_adapter

from studio.core.cards import Card
from studio.core.jobs import LoraSettings
from studio.core.library import Library
from studio.core.methods import METHODS, apply_method
from studio.gui.background import tasks_in_flight
from studio.gui.pages.library_page import LibraryPage


def labelled(method: str) -> str:
    data = apply_method({"lora": {}, "model": {"quantization": "none"}}, method)
    return LoraSettings(**data["lora"]).method_label(data["model"]["quantization"])


@pytest.fixture
def page(qtbot, state, tmp_path):
    with Library() as library:
        for method in ("lora", "loha", "vera", "adalora"):
            library.add(make_adapter(tmp_path / method), Card.from_dict(
                {"name": f"{method}-run", "method": labelled(method), "base_model": {"id": "bundled"}}))
    widget = LibraryPage(state)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.table.rowCount() == 4 and tasks_in_flight() == 0, timeout=5000)
    return widget


def test_the_filter_lists_every_method_and_finds_a_tuner_by_its_label(page, qtbot):
    box = page.method_filter
    offered = [box.itemText(i) for i in range(box.count())]
    assert offered == ["any method", *METHODS, "merge"]
    for method in ("loha", "vera", "adalora"):
        box.setCurrentText(method)
        qtbot.waitUntil(lambda: tasks_in_flight() == 0 and page.table.rowCount() == 1, timeout=5000)
        assert page.table.ref_at(0) == f"{method}-run/v1"


def test_train_more_shows_the_adapters_own_method(page, state, qtbot, tmp_path):
    """Keeping a VeRA adapter training is VeRA in the Method box, whatever the job had."""
    with Library() as library:
        folder = library.resolve("vera-run/v1").path_obj
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "peft_type": "VERA", "r": 256}))
    page.table.select_ref("vera-run/v1")
    page.train_more()
    qtbot.waitUntil(lambda: state.job.lora.continue_from == "vera-run/v1", timeout=5000)  # read in the pool
    assert (state.job.lora.tuner, state.job.lora.r, state.job.lora.continue_from) == ("vera", 256, "vera-run/v1")
