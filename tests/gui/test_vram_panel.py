"""The Train page's memory panel: live estimate, the card, and suggestions that apply."""

from __future__ import annotations

import dataclasses

import pytest

from studio.core import vram
from studio.core.models import inspect_model
from studio.core.reference_shapes import MODEL_SHAPES
from studio.gui.pages.train_page import TrainPage
from studio.gui.widgets.vram_panel import CARD_KEY


@pytest.fixture
def page(qtbot, state):
    widget = TrainPage(state)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    return widget


@pytest.fixture
def eight_b(tiny_model_dir):
    """The tiny model's folder, described as a Llama-3.1-8B (the estimate reads only the config)."""
    tiny = inspect_model(tiny_model_dir)
    return dataclasses.replace(tiny, config=MODEL_SHAPES["llama-3.1-8b"], num_parameters=8_030_261_248)


def choose_card(page: TrainPage, gib: int) -> None:
    combo = page.vram_panel.card_combo
    combo.setCurrentIndex(next(i for i in range(combo.count()) if combo.itemData(i) == gib * vram.GIB))


def set_field(page: TrainPage, name: str, value) -> None:
    page.form.bindings[name].set(value)


def test_estimate_follows_the_form_and_equals_core(page, state, eight_b):
    state.set_model(eight_b)
    set_field(page, "training.batch_size", 2)
    set_field(page, "training.max_length", 1024)
    panel = page.vram_panel
    expected = vram.estimate(page.current_job(), eight_b.config, num_parameters=eight_b.num_parameters)
    assert panel.estimate == expected and panel.bar.estimate == expected
    assert vram.format_bytes(expected.total) in panel.verdict.text()
    assert all(vram.format_bytes(p.bytes) in panel.legend.text() for p in expected.parts)
    before = expected.total
    set_field(page, "training.gradient_checkpointing", True)
    assert panel.estimate.total < before


def test_too_small_a_card_offers_fixes_that_apply_to_the_form(page, state, eight_b, settings):
    state.set_model(eight_b)
    set_field(page, "training.batch_size", 8)
    set_field(page, "training.max_length", 2048)
    choose_card(page, 16)
    assert settings.value(CARD_KEY).startswith("16 GB")
    panel = page.vram_panel
    assert "does not fit" in panel.verdict.text() and panel.suggestions
    assert len(panel.suggestion_buttons()) == len(panel.suggestions)
    first = panel.suggestions[0]
    panel.suggestion_buttons()[0].click()
    data = page.current_data()
    for dotted, value in first.edits.items():
        section, name = dotted.split(".")
        assert data[section][name] == value
    assert panel.estimate.total == first.estimate.total
    assert "fits" in panel.verdict.text() and not panel.suggestions


def test_cpu_training_and_missing_model_say_so(page, state, eight_b):
    panel = page.vram_panel
    state.set_model(eight_b)
    set_field(page, "training.device", "cpu")
    assert "CPU" in panel.verdict.text() and panel.estimate is None and not panel.legend.isVisible()
    set_field(page, "training.device", "auto")
    set_field(page, "training.learning_rate", 0.0)
    assert "Fix the problems" in panel.verdict.text()


def test_qlora_suggestion_switches_the_method(page, state, eight_b):
    state.set_model(eight_b)
    set_field(page, "training.batch_size", 1)
    set_field(page, "training.max_length", 512)
    set_field(page, "training.gradient_checkpointing", True)
    choose_card(page, 12)
    qlora = next(s for s in page.vram_panel.suggestions if s.edits.get("model.quantization") == "4bit")
    page.apply_edits(qlora.edits)
    assert page.form.method_combo.currentData() == "qlora"
    assert page.current_data()["model"]["quantization"] == "4bit"
