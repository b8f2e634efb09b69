"""The Train page's GRPO stage (issue 24): its own settings and a rewards box, the shipped prompts' own
rewards, a user file said to be code the run will execute, and the same job the CLI builds."""

from __future__ import annotations

import argparse

import pytest

from studio.cli.job_building import add_train_flags, build_train_job
from studio.core.job_schema import to_dict
from studio.core.rewards.samples import sample_rewards
from studio.gui.pages.train_page import TrainPage
from studio.gui.widgets.form_spec import GRPO_FIELDS, PREFERENCE_FIELDS

STAGE, REWARDS = "training.stage", "grpo.rewards"


@pytest.fixture
def page(train_page):
    return train_page


def problems(page: TrainPage) -> str:
    return "\n".join(page.issue_list.lines())


def shown(page: TrainPage) -> set[str]:
    return {name for name in PREFERENCE_FIELDS if page.form.bindings[name].widget.isVisibleTo(page)}


def test_grpo_shows_its_settings_and_the_sample_brings_its_rewards(page, state):
    state.set_dataset("bundled-arithmetic", "auto")
    assert "prompt data for grpo" in problems(page)  # prompts for SFT: refused when chosen, with what to do
    page.form.bindings[STAGE].set("grpo")
    assert shown(page) == set(GRPO_FIELDS)
    assert page.form.value(REWARDS) == sample_rewards("bundled-arithmetic")
    assert "the sample's rewards" in page.form.stage_note.text()
    assert page.start_button.isEnabled(), problems(page)
    editor = page.form.rewards_editor
    assert editor.columns.text().startswith("Reads columns: numeric_match → answer")
    assert not editor.warning.isVisibleTo(page)


def test_a_users_reward_file_is_said_to_be_code_and_a_bad_line_is_a_problem(page, state, tmp_path):
    state.set_dataset("bundled-arithmetic", "auto")
    page.form.bindings[STAGE].set("grpo")
    mine = tmp_path / "mine.py"
    mine.write_text("COLUMNS = ['answer']\ndef reward(prompts, completions, **columns):\n    return [0.0]\n")
    page.form.rewards_editor.append_line(f"file:path={mine}")
    warning = page.form.rewards_editor.warning
    assert warning.isVisibleTo(page) and "your own Python code" in warning.text() and str(mine) in warning.text()
    assert page.start_button.isEnabled(), problems(page)
    page.form.rewards_editor.append_line("numeric_match:column=solution")
    assert "reads column 'solution', which the dataset lacks" in problems(page)  # said as it is typed
    assert not page.start_button.isEnabled()
    page.form.rewards_editor.text.setPlainText("regex:pattern")
    assert "line 1: expected KIND:KEY=VALUE" in problems(page) and not page.start_button.isEnabled()


def test_the_page_and_the_cli_build_the_same_grpo_job(page, state):
    state.set_dataset("bundled-arithmetic", "auto")
    page.form.bindings[STAGE].set("grpo")
    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    cli = to_dict(build_train_job(parser.parse_args(["--stage", "grpo", "--dataset", "bundled-arithmetic"])))
    form = page.current_data()
    assert form["grpo"] == cli["grpo"]
    assert form["training"]["learning_rate"] == cli["training"]["learning_rate"]
