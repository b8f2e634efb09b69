"""Merge page with real adapters: two tiny runs trained here, merged and exported by workers."""

from __future__ import annotations

import pytest
from library_support import cli_train

from studio.core.library import Library
from studio.gui.pages.merge_page import MergePage

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)


@pytest.fixture
def page(qtbot, state, tiny_model_dir):
    for seed in (1, 2):
        cli_train(tiny_model_dir, seed, steps=3, rows=24)
    widget = MergePage(state)
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    qtbot.waitUntil(lambda: not widget.loading(), timeout=5000)  # the list is read in the pool
    return widget


@pytest.mark.slow
def test_merge_two_adapters_then_export_one_into_the_base(page, qtbot, tmp_path):
    assert [e.ref for e in page.entries] == ["pirate/v1", "pirate/v2"]
    assert not page.merge_button.isEnabled()  # nothing ticked yet
    page.check("pirate/v1")
    page.check("pirate/v2")
    page.set_weight("pirate/v1", 0.7)
    page.set_weight("pirate/v2", 0.3)
    page.combination.setCurrentText("cat")
    assert "rank <b>16</b>" in page.preview.text() and page.merge_button.isEnabled()
    page.combination.setCurrentText("ties")
    assert page.density.isEnabled()
    page.combination.setCurrentText("linear")
    assert not page.density.isEnabled() and "rank <b>8</b>" in page.preview.text()

    page.merge_button.click()
    assert page.busy() and not page.merge_button.isEnabled()
    qtbot.waitUntil(lambda: not page.busy(), timeout=180_000)
    assert page.result and page.result.library_ref == "merged-pirate/v1", page.message.text()
    assert "Merged into merged-pirate/v1" in page.message.text()
    library = Library()
    merged = library.resolve("merged-pirate/v1").entry
    assert merged.parents == ["pirate/v1", "pirate/v2"] and merged.method == "merge (linear)"
    assert library.card("merged-pirate/v1").merge.weights == [0.7, 0.3]
    qtbot.waitUntil(lambda: "merged-pirate/v1" in [e.ref for e in page.entries], timeout=5000)  # the list followed

    page.export_adapter.setCurrentText("merged-pirate/v1")
    out = tmp_path / "full-model"
    page.export_dir.setText(str(out))
    page.export_button.click()
    qtbot.waitUntil(lambda: not page.busy(), timeout=180_000)
    assert page.result and page.result.output_dir == str(out), page.message.text()
    assert "reloaded with transformers" in page.message.text()
    assert (out / "config.json").exists() and (out / "tokenizer.json").exists()
    assert page.result.max_logit_difference < 1e-3
