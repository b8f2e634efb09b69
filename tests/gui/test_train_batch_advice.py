"""The Train page offers a fuller batch when the job would leave a known GPU mostly idle."""

from __future__ import annotations

import dataclasses

import pytest

from studio.core import batch_advice, gpus, step_time, vram
from studio.core.datasets import TokenStats
from studio.core.models import inspect_model
from studio.core.reference_shapes import MODEL_SHAPES
from studio.gui.pages.train_page import TrainPage

H200_BYTES = 143_771_000_000


def alpaca_lengths(rows: int = 1000, mean: int = 122) -> TokenStats:
    """Token lengths like the public 1,000-row alpaca file's (~122 tokens, template included)."""
    lengths = tuple(mean - 40 + (i % 81) for i in range(rows))
    return TokenStats(count=rows, lengths=lengths, min=min(lengths), median=float(mean), p95=float(max(lengths)),
                      max=max(lengths), mean=sum(lengths) / rows, histogram=(rows,),
                      bin_edges=(min(lengths), max(lengths)), max_length=512, truncated_count=0,
                      truncated_fraction=0.0)


@pytest.fixture
def one_b(tiny_model_dir):
    """The tiny model's folder, described as a Llama-3.2-1B (the estimates read only the config)."""
    tiny = inspect_model(tiny_model_dir)
    return dataclasses.replace(tiny, config=MODEL_SHAPES["llama-3.2-1b"], num_parameters=1_235_814_400)


def make_page(qtbot, state) -> TrainPage:
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    return page


def choose_card(page: TrainPage, text: str) -> None:
    combo = page.vram_panel.card_combo
    combo.setCurrentIndex(combo.findText(text))


def test_an_idle_h200_is_offered_a_larger_batch_that_the_button_sets(qtbot, state, one_b):
    page = make_page(qtbot, state)
    state.set_model(one_b)
    page.form.bindings["training.batch_size"].set(4)
    choose_card(page, "141 GiB (H200)")
    panel = page.vram_panel
    assert panel.advice is None and not panel.advice_button.isVisible()  # no token lengths yet
    stats = alpaca_lengths()
    state.set_token_stats(stats)
    job = page.current_job()
    expected = batch_advice.advise(job, one_b.config, gpu_name="141 GiB (H200)", capacity_bytes=141 * vram.GIB,
                                   rows=1000, mean_tokens=step_time.mean_row_tokens(stats.lengths, 512),
                                   num_parameters=one_b.num_parameters)
    assert expected is not None and expected.batch_size > 4
    assert panel.advice == expected
    assert panel.advice_label.isVisible() and panel.advice_button.isVisible()
    assert panel.advice_button.text() == f"Use batch {expected.batch_size}"
    assert panel.advice_label.text() == expected.short()
    assert "learning rate" in panel.advice_label.toolTip()
    learning_rate = page.current_data()["training"]["learning_rate"]
    panel.advice_button.click()
    data = page.current_data()["training"]
    assert data["batch_size"] == expected.batch_size
    assert data["learning_rate"] == learning_rate  # the note's to read, not applied
    assert panel.advice is None and not panel.advice_button.isVisible()  # the job fills the card now


def test_no_advice_on_the_cpu_or_when_the_batch_is_full(qtbot, state, one_b):
    page = make_page(qtbot, state)
    state.set_model(one_b)
    choose_card(page, "141 GiB (H200)")
    state.set_token_stats(alpaca_lengths())
    assert page.vram_panel.advice is not None
    page.form.bindings["training.device"].set("cpu")
    assert page.vram_panel.advice is None and not page.vram_panel.advice_label.isVisible()
    page.form.bindings["training.device"].set("auto")
    page.form.bindings["training.max_length"].set(2048)
    page.form.bindings["training.batch_size"].set(8)
    state.set_token_stats(alpaca_lengths(mean=2000))
    assert page.vram_panel.advice is None
    state.set_token_stats(None)  # another file is loading
    assert page.vram_panel.advice is None


def test_this_machines_gpu_is_the_one_advised_for(qtbot, state, one_b, monkeypatch):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (gpus.Gpu(0, "NVIDIA H200", H200_BYTES),))
    page = make_page(qtbot, state)
    assert page.vram_panel.card_combo.currentText() == "NVIDIA H200 (this machine)"
    state.set_model(one_b)
    page.form.bindings["training.batch_size"].set(4)
    state.set_token_stats(alpaca_lengths())
    advice = page.vram_panel.advice
    assert advice is not None and advice.batch_size == 16 and advice.steps_before == 225  # graphed steps (core.step_time)


def test_the_advice_fits_the_smallest_window(qtbot, state, one_b):
    page = make_page(qtbot, state)
    page.resize(960 - 168, 640)  # the main window's minimum, less the navigation
    state.set_model(one_b)
    choose_card(page, "141 GiB (H200)")
    state.set_token_stats(alpaca_lengths())
    qtbot.wait(50)
    label, button = page.vram_panel.advice_label, page.vram_panel.advice_button
    assert label.isVisible() and button.isVisible()
    assert label.height() >= label.heightForWidth(label.width())  # no line cut off
    start = page.start_button
    assert start.isVisible() and start.mapTo(page, start.rect().bottomLeft()).y() <= page.height()
