"""The Train page says a value far past any usual need as it is chosen (issue 22, finding 12).

A rank above the adapted layers' width, or over a million optimizer steps, is named with its
reason (core.magnitudes, the rule ``lora-studio train`` refuses without ``--force``) and holds
Start back until "Start anyway" is ticked, the way a job that will not fit does.
"""

from __future__ import annotations

import pytest

from studio.core import gpus, memory_fit, vram
from studio.core.models import inspect_model
from studio.gui.pages.train_page import TrainPage


@pytest.fixture
def page(qtbot, state, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())  # a CPU run, held against plenty of RAM
    monkeypatch.setattr(memory_fit, "available_ram", lambda: (64 * vram.GIB, 64 * vram.GIB))
    widget = TrainPage(state)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    state.set_model(inspect_model(tiny_model_dir))  # k_proj and v_proj: 64 in, 32 out
    return widget


def set_field(page: TrainPage, name: str, value) -> None:
    page.form.bindings[name].set(value)


def test_a_rank_above_the_layers_width_holds_start_until_start_anyway(page):
    set_field(page, "lora.r", 32)
    assert page.unusual_values() == [] and page.start_button.isEnabled() and not page.start_anyway.isVisible()
    set_field(page, "lora.r", 64)
    (issue,) = page.unusual_values()
    assert issue.field == "lora.r"
    said = page.fit_message.text()
    assert "Far past any usual need" in said and "Rank (r)" in said  # the form's words for the field
    assert "above the width of k_proj (64 in, 32 out)" in said and "32 at most" in said
    assert "✓ Ready" not in page.issue_list.text() and page.current_job() is not None  # not a problem: held back
    assert not page.start_button.isEnabled() and page.start_anyway.isVisible()
    assert page.start_training() is None  # nothing started
    page.start_anyway.setChecked(True)
    assert page.start_button.isEnabled() and not page.start_blocked()
    set_field(page, "lora.r", 16)  # usual again: Ready, and the override is gone
    assert page.unusual_values() == [] and not page.start_anyway.isVisible() and not page.start_anyway.isChecked()
    assert "✓ Ready to train." in page.issue_list.text() and page.start_button.isEnabled()
    assert not page.fit_message.isVisible()


def test_a_million_steps_is_said_on_the_steps_field(page):
    set_field(page, "training.max_steps", 2_000_000)
    (issue,) = page.unusual_values()
    assert issue.field == "training.max_steps"
    assert "is 2,000,000 optimizer steps, over 1,000,000" in page.fit_message.text()
    assert not page.start_button.isEnabled() and page.start_anyway.isVisible()
