"""A method's own preset adjustment on the Train page (issue 19): VeRA's rank and rate come with it,
whether it is chosen on a preset's values or a preset is applied while it is chosen; values a person
typed are left alone."""

from __future__ import annotations

import pytest

from studio.core.models import inspect_model
from studio.core.presets import for_method
from studio.gui.pages.train_page import TrainPage


@pytest.fixture
def page(qtbot, state, tiny_model_dir):
    state.set_model(inspect_model(tiny_model_dir))
    widget = TrainPage(state)
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    return widget


def rank_and_rate(page: TrainPage) -> tuple[int, float]:
    return page.form.value("lora.r"), page.form.value("training.learning_rate")


def choose(page: TrainPage, method: str) -> None:
    combo = page.form.method_combo
    combo.setCurrentIndex(combo.findData(method))


def test_vera_brings_its_rank_and_rate_and_the_preset_button_keeps_them(page, state):
    preset = page.apply_preset()
    lora = rank_and_rate(page)
    vera = for_method(preset, "vera", state.model.config)
    assert (vera.r, vera.learning_rate) != lora and vera.learning_rate == pytest.approx(10 * preset.learning_rate)
    choose(page, "vera")
    assert rank_and_rate(page) == (vera.r, pytest.approx(vera.learning_rate))
    page.apply_preset(preset)  # "Apply preset" with VeRA chosen: VeRA's values, not LoRA's
    assert rank_and_rate(page) == (vera.r, pytest.approx(vera.learning_rate))
    choose(page, "lora")
    assert rank_and_rate(page) == (lora[0], pytest.approx(lora[1]))


def test_a_typed_rank_is_not_moved_by_the_method(page):
    page.apply_preset()
    page.form.bindings["lora.r"].set(12)
    choose(page, "vera")
    assert page.form.value("lora.r") == 12
