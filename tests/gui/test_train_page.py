"""The Train page on real widgets: tooltips, live counts, validation, job files, presets, Start."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core import control_client, gpus, machine_fit, runs
from studio.core.job_schema import to_dict
from studio.core.jobs import TrainJob
from studio.core.models import bundled_model_path, inspect_model
from studio.core.presets import all_presets, available_modules, count_lora_parameters, preset_for
from studio.gui.pages.train_page import TrainPage
from studio.gui.widgets.field_editors import field_info
from studio.gui.widgets.form_spec import METHOD
from studio.gui.widgets.scientific_spin_box import ScientificSpinBox, format_scientific


@pytest.fixture
def page(train_page):
    return train_page


@pytest.fixture
def tiny(tiny_model_dir):
    return inspect_model(tiny_model_dir)


def set_field(page: TrainPage, name: str, value) -> None:
    page.form.bindings[name].set(value)


def test_every_field_has_its_help_as_tooltip(page, state, tiny):
    state.set_model(tiny)
    for name, binding in page.form.bindings.items():
        assert binding.widget.toolTip().strip(), name
        assert binding.caption().toolTip().strip(), name
        if name != METHOD:
            assert field_info(name)[1] in binding.widget.toolTip(), name
    for module in page.form.target_modules.module_names():
        assert page.form.target_modules.checkbox(module).toolTip().strip()
    assert page.presets.combo.toolTip() and page.size_label.toolTip() and page.preview.toolTip()


def test_choices_fit_their_box_and_explain_themselves_in_the_list(page):
    """At 960 x 640 "auto (DDP when the model fits one GPU)" was cut to "auto (DDP when the model f…":
    the words in the box are short; what they mean is each item's tooltip."""
    from PySide6.QtWidgets import QComboBox

    from studio.gui.widgets.form_spec import CHOICE_HELP, SPECS

    for name, meanings in CHOICE_HELP.items():
        combo = page.form.bindings[name].widget
        assert isinstance(combo, QComboBox)
        room = combo.fontMetrics().horizontalAdvance("x" * SPECS[name].width)  # the box's narrowest (Qt's own rule)
        for index in range(combo.count()):
            text = combo.itemText(index)
            assert combo.fontMetrics().horizontalAdvance(text) <= room, text
            meaning = meanings.get(combo.itemData(index))
            if meaning:
                assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == meaning


def test_rank_updates_the_trainable_line_exactly(page, state, tiny):
    state.set_model(tiny)
    for rank in (8, 3):
        page.form.bindings["lora.r"].widget.setValue(rank)
        lora = page.current_data()["lora"]
        expected = count_lora_parameters(tiny.config, lora["target_modules"], rank)
        assert lora["r"] == rank and expected
        assert page.size_label.text().startswith(f"{expected:,} trainable / ")


def test_bundled_model_rank_8_on_every_module(page, state):
    model = inspect_model(bundled_model_path())
    state.set_model(model)
    picker = page.form.target_modules
    assert picker.module_names() == available_modules(model.config)
    for name in picker.module_names():
        picker.checkbox(name).setChecked(True)
    set_field(page, "lora.r", 8)
    assert page.size_label.text() == "2,442,240 trainable / 135M total (1.8%)"
    picker.checkbox("q_proj").setChecked(False)
    assert page.current_data()["lora"]["target_modules"] == available_modules(model.config)[1:]
    assert "2,442,240" not in page.size_label.text()
    page.form.bindings[METHOD].set("dora")
    assert page.size_label.text() != "2,442,240 trainable / 135M total (1.8%)"


def test_unknown_architecture_types_module_names(page, state, tiny):
    config = {**tiny.config, "model_type": "someday_net"}
    state.set_model(dataclasses.replace(tiny, model_type="someday_net", config=config))
    picker = page.form.target_modules
    assert not picker.uses_checkboxes() and picker.text.isVisibleTo(page)
    picker.text.setText("wq, wv")
    assert page.current_data()["lora"]["target_modules"] == ["wq", "wv"]
    assert "unknown for this architecture" in page.size_label.text()


@pytest.mark.parametrize(("edits", "field", "label", "words"), [
    ({METHOD: "qlora", "training.device": "cpu"}, "model.quantization", "Method", "needs a CUDA GPU"),
    ({"training.learning_rate": 0.0}, "training.learning_rate", "Learning rate", "must be in (0, 1)"),
    ({"output.name": "../escape"}, "output.name", "Adapter name", "must be a plain name"),
])
def test_invalid_combinations_are_shown_and_block_start(page, edits, field, label, words):
    assert page.start_button.isEnabled()
    for name, value in edits.items():
        set_field(page, name, value)
    assert not page.start_button.isEnabled()
    assert page.current_job() is None
    shown = "\n".join(page.issue_list.lines())
    assert label in shown and words in shown and field not in shown  # the form's words (issue 21)
    assert label in page.issue_list.text() and words in page.issue_list.text()
    caption = page.form.bindings[METHOD if field == "model.quantization" else field].caption()
    assert "color" in caption.styleSheet() and words in caption.toolTip()
    set_field(page, "training.device", "auto")
    set_field(page, "training.learning_rate", 2e-4)
    set_field(page, "output.name", "")
    set_field(page, METHOD, "lora")
    assert page.start_button.isEnabled() and page.issues() == [] and caption.styleSheet() == ""


def test_qlora_on_a_machine_without_a_gpu_is_refused_when_chosen(page, monkeypatch):
    """It said "Ready to train" and the worker failed at once (issue 21, a new user's first finding)."""
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    set_field(page, METHOD, "qlora")
    assert not page.start_button.isEnabled() and page.current_job() is None
    assert "Method" in page.issue_list.text() and "this machine has none" in page.issue_list.text()
    assert "this machine has none" in page.form.bindings[METHOD].caption().toolTip()
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (gpus.Gpu(0, "NVIDIA H200", 143_771_000_000),))
    monkeypatch.setattr(machine_fit, "bitsandbytes_installed", lambda: True)  # as the gpu extra installs it
    set_field(page, "training.learning_rate", 1e-4)  # any change checks again
    assert page.start_button.isEnabled() and page.issues() == []


def test_dora_shows_in_the_job_preview(page, state):
    combo = page.form.method_combo
    combo.setCurrentIndex(combo.findData("dora"))
    assert json.loads(page.preview.json_text())["lora"]["use_dora"] is True
    assert "use_dora = true" in page.preview.toml_text()
    assert state.job.lora.use_dora is True
    combo.setCurrentIndex(combo.findData("qlora"))
    data = json.loads(page.preview.json_text())
    assert data["lora"]["use_dora"] is False and data["model"]["quantization"] == "4bit"


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_save_then_load_round_trips(page, tmp_path, suffix):
    set_field(page, METHOD, "rslora")
    set_field(page, "lora.r", 12)
    set_field(page, "training.learning_rate", 5e-5)
    set_field(page, "training.packing", True)
    set_field(page, "output.name", "captain-adapter")
    saved = page.current_data()
    path = page.save_job(tmp_path / f"job{suffix}")
    set_field(page, "lora.r", 4)
    set_field(page, METHOD, "lora")
    assert page.load_job(path)
    assert page.current_data() == saved
    assert page.form.method_combo.currentData() == "rslora"
    assert to_dict(page.current_job()) == saved


def test_a_combination_from_a_file_is_kept(page, tmp_path):
    data = to_dict(TrainJob())
    data["lora"].update(use_dora=True, use_rslora=True, loraplus_lr_ratio=8.0)
    path = tmp_path / "combo.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert page.load_job(path)
    assert page.form.method_combo.currentText().startswith("Custom (lora+dora+rslora+loraplus")
    assert page.current_data()["lora"] == data["lora"]


def test_loading_a_bad_job_file_lists_its_problems(page, tmp_path):
    before = page.current_data()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lora": {"r": -4}, "training": {"learning_rat": 1e-4}}), encoding="utf-8")
    assert not page.load_job(bad)
    shown = "\n".join(page.file_message.lines())
    assert "lora.r must be a positive integer" in shown and "did you mean 'training.learning_rate'" in shown
    broken = tmp_path / "broken.toml"
    broken.write_text("[lora\nr = ", encoding="utf-8")
    assert not page.load_job(broken)
    assert "is not valid toml" in "\n".join(page.file_message.lines())
    assert not page.load_job(tmp_path / "missing.json")
    assert page.current_data() == before


def test_selecting_a_model_applies_its_preset_once(page, state, tiny):
    state.set_model(tiny)
    preset = preset_for(tiny.num_parameters)
    assert page.form.value("lora.r") == preset.r and page.form.value("lora.alpha") == preset.alpha
    assert page.form.value("training.learning_rate") == preset.learning_rate
    set_field(page, "lora.r", 5)
    state.set_model(tiny)  # the same model again (e.g. restored at start-up) keeps the edits
    assert page.form.value("lora.r") == 5


def test_apply_preset_fills_rank_alpha_dropout_and_lr(page, state, tiny, qtbot):
    state.set_model(tiny)
    medium = next(p for p in all_presets() if p.name.startswith("medium"))
    page.presets.combo.setCurrentIndex(all_presets().index(medium) + 1)
    qtbot.mouseClick(page.presets.apply_button, Qt.MouseButton.LeftButton)
    data = page.current_data()
    assert (data["lora"]["r"], data["lora"]["alpha"], data["lora"]["dropout"]) == (medium.r, medium.alpha,
                                                                                   medium.dropout)
    assert data["training"]["learning_rate"] == medium.learning_rate
    assert data["lora"]["target_modules"] == ["auto"]
    assert medium.note in page.presets.note.text()


def test_the_last_form_is_remembered(qtbot, state):
    first = TrainPage(state)
    qtbot.addWidget(first)
    set_field(first, "lora.r", 12)
    set_field(first, "output.name", "remembered")
    second = TrainPage(state)
    qtbot.addWidget(second)
    assert second.form.value("lora.r") == 12 and second.form.value("output.name") == "remembered"


def test_dataset_and_jobs_from_other_pages_reach_the_form(page, state):
    state.set_dataset("/data/rows.jsonl", "alpaca")
    assert page.current_data()["dataset"] == {**to_dict(TrainJob())["dataset"], "path": "/data/rows.jsonl",
                                              "format": "alpaca"}
    assert state.job.dataset.path == "/data/rows.jsonl" and "rows.jsonl" in page.context_label.text()
    assert "/data/" not in page.context_label.text() and "/data/rows.jsonl" in page.context_label.toolTip()
    again = TrainJob()
    again.lora.r = 7
    state.set_job(again)  # e.g. "train again" on the Runs page
    assert page.form.value("lora.r") == 7


def test_max_steps_switches_epochs_off(page):
    epochs = page.form.bindings["training.epochs"].widget
    assert epochs.isEnabled()
    set_field(page, "training.max_steps", 10)
    assert not epochs.isEnabled()


def test_scientific_spin_box_reads_and_steps_like_a_learning_rate(qtbot):
    box = ScientificSpinBox()
    qtbot.addWidget(box)
    assert [format_scientific(v) for v in (2e-4, 1.5e-5, 0.0)] == ["2e-4", "1.5e-5", "0"]
    box.setValue(2e-4)
    box.stepBy(1)
    assert box.value() == pytest.approx(3e-4)
    box.setValue(1e-4)
    box.stepBy(-1)
    assert box.value() == pytest.approx(9e-5)
    assert box.valueFromText("5e-5") == pytest.approx(5e-5)


@pytest.mark.integration  # starts a worker
def test_start_launches_a_real_worker(page, state, tiny, qtbot):
    state.set_model(tiny)
    set_field(page, "training.max_steps", 2)
    set_field(page, "dataset.max_rows", 16)
    set_field(page, "training.device", "cpu")
    assert page.start_button.isEnabled(), page.issue_list.lines()
    with qtbot.waitSignal(state.run_started, timeout=10_000) as started:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    run_dir = Path(started.args[0])
    try:
        job = json.loads((run_dir / runs.JOB_NAME).read_text(encoding="utf-8"))
        assert job["model"]["path"] == str(tiny.path) and job["training"]["max_steps"] == 2
        qtbot.waitUntil(lambda: any(e.get("type") == "hello" for e in runs.read_events(run_dir)), timeout=60_000)
    finally:
        try:
            control_client.send_command(run_dir, "cancel")
        except OSError:
            pass  # it finished (or never got going) on its own
        deadline = time.monotonic() + 60
        while runs.is_locked(run_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert not runs.is_locked(run_dir)


def test_loading_a_job_for_another_model_selects_that_model(page, state, tmp_path, tiny_model_dir):
    state.set_model(inspect_model(bundled_model_path()))
    job_file = tmp_path / "other.json"
    job_file.write_text(json.dumps({"model": {"path": str(tiny_model_dir)}, "lora": {"r": 4}}))
    assert page.load_job(job_file)
    assert state.model is not None and state.model.path == tiny_model_dir
    assert tiny_model_dir.name in page.context_label.text()
    expected = count_lora_parameters(state.model.config, ["auto"], 4)
    assert page.size_label.text().startswith(f"{expected:,} trainable")


def test_the_form_stacks_its_columns_where_the_window_is_narrow(qtbot, state):
    """At the smallest window (960 x 640) the form's two columns side by side hid the second
    behind a horizontal scroll bar; there they stack, and side by side again when it is wide."""
    widget = TrainPage(state)
    qtbot.addWidget(widget)
    widget.resize(1400, 800)
    widget.show()
    qtbot.waitUntil(lambda: not widget.form.stacked())
    widget.resize(960 - 160, 600)  # the window's minimum, less the page list
    qtbot.waitUntil(widget.form.stacked)
    bar = widget.form_scroll.horizontalScrollBar()
    assert not bar.isVisible() or bar.maximum() == 0
    widget.resize(1400, 800)
    qtbot.waitUntil(lambda: not widget.form.stacked())
