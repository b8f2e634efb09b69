"""The Train page's Stage box (issue 23): each stage's own settings and nothing else, SimPO's beta,
and what a stage can't train or run said the moment it is chosen."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox

from studio.core import runs
from studio.core.jobs import (
    PREFERENCE_LEARNING_RATE,
    PREFERENCE_LEARNING_RATE_SHARE,
    PREFERENCE_STAGES,
    SIMPO_BETA,
    Stage,
    TrainingSettings,
)
from studio.core.models import inspect_model
from studio.gui import theme
from studio.gui.pages.monitor_page import MonitorPage
from studio.gui.pages.train_page import TrainPage
from studio.gui.widgets.field_editors import field_info
from studio.gui.widgets.form_spec import PREFERENCE_FIELDS, STAGE_FIELDS

STAGE, BETA = "training.stage", "preference.beta"


@pytest.fixture
def page(train_page):
    return train_page


def choose(page: TrainPage, name: str, value) -> None:
    page.form.bindings[name].set(value)


def shown_preference_fields(page: TrainPage) -> set[str]:
    return {name for name in PREFERENCE_FIELDS if page.form.bindings[name].widget.isVisibleTo(page)}


def problems(page: TrainPage) -> str:
    return "\n".join(page.issue_list.lines())


def test_the_stage_box_names_each_stage_and_shows_only_the_settings_it_reads(page):
    combo = page.form.bindings[STAGE].widget
    assert isinstance(combo, QComboBox)
    assert [combo.itemData(i) for i in range(combo.count())] == list(Stage.__args__)
    assert combo.itemText(0) == "SFT — learn the replies" and combo.itemText(1) == "DPO — prefer the chosen reply"
    assert all(combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count()))
    assert field_info(STAGE)[1] in combo.toolTip()  # the job's help, as for every field
    assert shown_preference_fields(page) == set()  # SFT reads none of them
    for stage in (*PREFERENCE_STAGES, "sft"):
        choose(page, STAGE, stage)
        assert shown_preference_fields(page) == set(STAGE_FIELDS[stage]), stage
        assert page.current_data()["training"]["stage"] == stage
    choose(page, STAGE, "dpo")
    assert {"Beta (β)", "DPO loss", "Label smoothing"} == {
        page.form.bindings[name].label.text() for name in shown_preference_fields(page)}
    for name in PREFERENCE_FIELDS:
        assert field_info(name)[1] in page.form.bindings[name].widget.toolTip(), name


@pytest.mark.parametrize("name", PREFERENCE_FIELDS)
def test_each_preference_field_is_shown_for_the_stages_its_help_names(name):
    """The form's table (form_spec.STAGE_FIELDS) and the job's help text say the same."""
    words = set(re.findall(r"[a-z]+", field_info(name)[1].lower()))
    assert {stage for stage in PREFERENCE_STAGES if name in STAGE_FIELDS[stage]} == \
        {stage for stage in PREFERENCE_STAGES if stage in words}


def test_each_stage_takes_its_usual_values_and_never_the_users_own(page):
    """core.jobs.stage_typical: a preference stage's learning rate, SimPO's beta; said beside the box."""
    note, lr = page.form.stage_note, "training.learning_rate"
    assert page.form.value(lr) == TrainingSettings.learning_rate
    choose(page, STAGE, "dpo")
    assert page.form.value(BETA) == 0.1 and page.form.value(lr) == PREFERENCE_LEARNING_RATE
    assert note.isVisible() and "Set to DPO's usual: learning rate 2e-05" in note.text()
    choose(page, STAGE, "simpo")
    assert page.form.value(BETA) == SIMPO_BETA == page.current_data()["preference"]["beta"]
    assert note.isVisible() and "Set to SimPO's usual: beta 2 " in note.text()
    choose(page, STAGE, "kto")
    assert page.form.value(BETA) == 0.1 and "Set to KTO's usual: beta 0.1 " in note.text()
    choose(page, STAGE, "sft")
    assert page.form.value(lr) == TrainingSettings.learning_rate and "learning rate 0.0002" in note.text()

    choose(page, BETA, 0.3)  # the user's own values are never overwritten
    choose(page, lr, 1e-4)
    assert not note.isVisible()
    choose(page, STAGE, "simpo")
    assert page.form.value(BETA) == 0.3 and page.form.value(lr) == 1e-4 and not note.isVisible()
    choose(page, BETA, 2.5)
    choose(page, STAGE, "dpo")
    assert page.form.value(BETA) == 2.5 and not note.isVisible()


def test_a_loaded_simpo_job_keeps_its_beta(page, tmp_path):
    job = tmp_path / "simpo.json"
    job.write_text(json.dumps({"training": {"stage": "simpo"}, "preference": {"beta": 2.5, "simpo_gamma": 1.0}}))
    assert page.load_job(job)
    assert page.form.stage() == "simpo" and page.form.value(BETA) == 2.5
    assert shown_preference_fields(page) == set(STAGE_FIELDS["simpo"]) and not page.form.stage_note.isVisible()


def test_packing_is_flagged_the_moment_a_preference_stage_is_chosen(page):
    choose(page, "training.packing", True)
    assert page.start_button.isEnabled(), problems(page)
    choose(page, STAGE, "dpo")
    assert not page.start_button.isEnabled()
    assert "Pack short rows together" in problems(page) and "turn packing off" in problems(page)
    packing = page.form.bindings["training.packing"].widget
    assert "Problem:" in packing.toolTip() and packing.styleSheet()  # the check box itself turns red
    choose(page, STAGE, "sft")
    assert page.start_button.isEnabled() and "Problem:" not in packing.toolTip()


def test_a_dataset_the_stage_cant_train_is_said_when_the_stage_changes(page, state):
    state.set_dataset("bundled-preference", "auto")  # pairs, chosen while the stage is still SFT
    assert "this is preference data" in problems(page) and not page.start_button.isEnabled()
    assert 'Train it with a preference stage: “Stage” = "dpo"' in problems(page)
    stage_box = page.form.bindings[STAGE].widget
    assert "Problem:" in stage_box.toolTip() and "this is preference data" in stage_box.toolTip()
    reads = page.dataset_kind.reads
    choose(page, STAGE, "dpo")
    assert page.start_button.isEnabled(), problems(page)
    assert "Problem:" not in stage_box.toolTip()
    choose(page, STAGE, "kto")  # KTO reads a pair as one desirable and one undesirable reply
    assert page.start_button.isEnabled(), problems(page)
    state.set_dataset("bundled", "auto")  # replies, for a preference stage
    assert "kto trains on preference data and this is alpaca data" in problems(page)
    assert 'train this file with “Stage” = "sft"' in problems(page)
    choose(page, STAGE, "sft")
    assert page.start_button.isEnabled(), problems(page)
    assert page.dataset_kind.reads == reads + 1  # the stage changes read no file; the new dataset once


def test_a_given_format_is_judged_without_reading_the_file(page, state, tmp_path):
    pairs = tmp_path / "pairs.jsonl"  # written but named by its format: the file is not read
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Ahoy!", "rejected": "Hello."}) + "\n")
    reads = page.dataset_kind.reads  # the default dataset's, when the page opened
    state.set_dataset(str(pairs), "preference")
    choose(page, STAGE, "sft")
    assert "this is preference data" in problems(page) and page.dataset_kind.reads == reads


@pytest.fixture
def themed():
    """The app's own theme (Fusion, its palette and style sheet), put back afterwards."""
    app = QApplication.instance()
    style, palette, sheet = app.style().name(), app.palette(), app.styleSheet()
    theme.apply(app, dark=False)
    yield
    app.setStyleSheet(sheet)
    app.setStyle(style)
    app.setPalette(palette)


def test_every_stage_fits_the_smallest_window_also_when_refused(qtbot, themed, window, state):
    """The Stage box's words are sentences: at 960 x 640 they fit the stacked form with no sideways
    scroll bar, for every stage, also with the box in red (a refused dataset: not bold, which widened it)."""
    window.resize(960, 640)
    window.show_page("Train")
    page = window.train_page
    qtbot.waitUntil(page.form.stacked, timeout=5000)
    bar = page.form_scroll.horizontalScrollBar()
    for dataset in ("bundled", "bundled-preference"):
        state.set_dataset(dataset, "auto")
        for stage in Stage.__args__:
            choose(page, STAGE, stage)
            needs, has = page.form.minimumSizeHint().width(), page.form_scroll.viewport().width()
            assert needs <= has, (dataset, stage, needs, has)
            box = page.form.bindings[STAGE].widget
            assert box.fontMetrics().horizontalAdvance(box.currentText()) + 30 <= box.width(), box.currentText()
    qtbot.wait(50)
    assert bar.maximum() == 0


@pytest.mark.integration  # starts a worker, trains two DPO steps
def test_a_dpo_run_started_here_is_charted_by_its_margins(page, state, qtbot, tiny_model_dir):
    state.set_model(inspect_model(tiny_model_dir))
    state.set_dataset("bundled-preference", "auto")
    for name, value in {STAGE: "dpo", "training.max_steps": 2, "training.batch_size": 2, "dataset.max_rows": 8,
                        "training.max_length": 64, "training.device": "cpu", "training.learning_rate": 5e-3,
                        "output.add_to_library": False}.items():
        choose(page, name, value)
    assert page.start_button.isEnabled(), problems(page)
    monitor = MonitorPage(state)
    qtbot.addWidget(monitor)
    monitor.resize(1100, 760)
    monitor.show()
    with qtbot.waitSignal(state.run_started, timeout=10_000) as started:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    run_dir = Path(started.args[0])
    monitor.follow(run_dir)
    qtbot.waitUntil(lambda: monitor.follower is not None and monitor.follower.done, timeout=120_000)
    qtbot.waitUntil(lambda: not runs.is_locked(run_dir), timeout=30_000)
    assert monitor.view.status == "done", monitor.view.result_text
    charts = monitor.view.charts
    charts.redraw()
    assert charts.preference_mode() and charts.loss.title_label.text() == "DPO loss"
    assert charts.margin.point_count("margin") == 2 and charts.rewards.point_count("chosen") == 2
    assert charts.margin.point_count("eval_margin") == 1  # the final evaluation, on the held-out pairs
    banner = monitor.view.banner.text()
    assert "eval reward margin" in banner and "perplexity" not in banner


def test_a_size_presets_learning_rate_is_sfts_and_a_preference_stage_takes_its_share(page):
    lr = "training.learning_rate"
    preset = page.apply_preset(page.presets.preset(0))
    assert page.form.value(lr) == preset.learning_rate != TrainingSettings.learning_rate
    choose(page, STAGE, "dpo")
    assert page.form.value(lr) == pytest.approx(preset.learning_rate * PREFERENCE_LEARNING_RATE_SHARE)
    page.apply_preset(preset)  # applied again while on DPO: its share again, not SFT's rate
    assert page.form.value(lr) == pytest.approx(preset.learning_rate * PREFERENCE_LEARNING_RATE_SHARE)
    choose(page, STAGE, "sft")
    assert page.form.value(lr) == pytest.approx(preset.learning_rate)
