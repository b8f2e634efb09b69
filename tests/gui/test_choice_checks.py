"""Checks at the moment of choice, and no quiet rejections (issue 21, findings 1, 2 and 10).

A new user picked QLoRA on a machine without a GPU and read "✓ Ready to train"; a job
estimated at 318 GiB against an 8 GB card had Start enabled; a rank of 0 and a learning rate
of "fast" vanished without a word; renaming to "pirate voice/x" reported one name and saved
another; a merge name in use and a DoRA + LoRA merge went ahead silently. Each is said here
when it is chosen, by the rules the CLI and the worker use (core.machine_fit, core.memory_fit).
"""

from __future__ import annotations

import json

import pytest
from library_support import make_adapter
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QTableWidget,
)

from studio.core import gpus, machine_fit, memory_fit, vram
from studio.core.cards import Card
from studio.core.datasets import TokenStats
from studio.core.library import Library
from studio.core.models import bundled_model_path, inspect_model
from studio.gui.pages.library_page import LibraryPage
from studio.gui.pages.merge_page import MergePage
from studio.gui.pages.train_page import TrainPage
from studio.gui.widgets.form_spec import METHOD, SPECS
from studio.gui.widgets.name_field import NameDialog

GIB = vram.GIB
RTX_4060 = gpus.Gpu(0, "NVIDIA GeForce RTX 4060", 8 * GIB)
H200 = gpus.Gpu(0, "NVIDIA H200", 143_771_000_000)


def make_page(qtbot, state) -> TrainPage:
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    return page


def set_field(page: TrainPage, name: str, value) -> None:
    page.form.bindings[name].set(value)


def short_rows(longest: int = 200, rows: int = 300) -> TokenStats:
    lengths = tuple(40 + i % (longest - 39) for i in range(rows))
    return TokenStats(count=rows, lengths=lengths, min=min(lengths), median=120.0, p95=float(max(lengths)),
                      max=max(lengths), mean=sum(lengths) / rows, histogram=(rows,),
                      bin_edges=(min(lengths), max(lengths)), max_length=512, truncated_count=0,
                      truncated_fraction=0.0)


# -- finding 1: QLoRA / 8-bit where this machine can't run them ---------------------------------------


def test_without_a_gpu_the_quantized_choices_are_disabled_with_the_reason(qtbot, state, monkeypatch):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    page = make_page(qtbot, state)
    form = page.form
    assert form.refused_items(METHOD) == ["qlora"]
    assert form.refused_items("training.optimizer") == ["adamw_8bit", "paged_adamw_8bit"]
    combo = form.method_combo
    tip = combo.itemData(combo.findData("qlora"), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Not on this machine:") and "this machine has none" in tip
    # Chosen anyway (a job file, a memory suggestion): flagged at once, by its label, and Start is off.
    set_field(page, METHOD, "qlora")
    assert not page.start_button.isEnabled() and page.current_job() is None
    shown = "\n".join(page.issue_list.lines())
    assert "Method 4bit loading needs an NVIDIA GPU" in shown and "model.quantization" not in shown
    assert "✓ Ready" not in page.issue_list.text()


def test_with_a_gpu_they_are_offered_only_where_bitsandbytes_is_installed(qtbot, state, monkeypatch):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (H200,))
    monkeypatch.setattr(machine_fit, "bitsandbytes_installed", lambda: True)
    page = make_page(qtbot, state)
    assert page.form.refused_items(METHOD) == [] and page.form.refused_items("training.optimizer") == []
    set_field(page, METHOD, "qlora")
    assert page.start_button.isEnabled(), page.issue_list.lines()
    monkeypatch.setattr(machine_fit, "bitsandbytes_installed", lambda: False)
    set_field(page, "lora.r", 12)  # any change asks again
    assert page.form.refused_items(METHOD) == ["qlora"]
    assert "needs bitsandbytes, which is not installed" in page.issue_list.text()
    assert not page.start_button.isEnabled()


# -- finding 2: a job that will not fit ---------------------------------------------------------------


def test_318_gib_against_an_8_gb_card_blocks_start_until_start_anyway(qtbot, state, monkeypatch):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (RTX_4060,))
    page = make_page(qtbot, state)
    state.set_model(inspect_model(bundled_model_path()))
    assert page.start_button.isEnabled() and not page.start_anyway.isVisible()
    set_field(page, METHOD, "dora")
    set_field(page, "training.batch_size", 64)
    set_field(page, "training.max_length", 2048)
    fit = page.fit_verdict()
    assert fit is not None and not fit.fits and fit.target.kind == "gpu"
    assert fit.needed == page.vram_panel.estimate.total  # the panel's number, one rule
    said = page.fit_message.text()
    assert "Will not fit" in said and f"{vram.format_bytes(fit.needed)}" in said and "318." in said
    assert "8.0 GiB" in said and "RTX 4060" in said and "Try:" in said and "accumulation" in said
    assert "✓ Ready" not in page.issue_list.text()
    tips = [button.toolTip() for button in page.vram_panel.suggestion_buttons()]
    assert tips and all("Batch size = " in tip and "training." not in tip for tip in tips)  # the form's words
    assert not page.start_button.isEnabled() and page.start_anyway.isVisible()
    assert page.start_training() is None  # nothing started
    page.start_anyway.setChecked(True)
    assert page.start_button.isEnabled()
    set_field(page, "training.batch_size", 1)  # fits now: Ready, and the override is gone
    assert page.fit_verdict().fits and not page.start_anyway.isVisible() and not page.start_anyway.isChecked()
    assert "✓ Ready to train." in page.issue_list.text() and page.start_button.isEnabled()


def test_a_cpu_run_is_held_against_the_available_ram(qtbot, state, monkeypatch):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    monkeypatch.setattr(memory_fit, "available_ram", lambda: (int(3.5 * GIB), 8 * GIB))
    page = make_page(qtbot, state)
    state.set_model(inspect_model(bundled_model_path()))
    set_field(page, "training.max_length", 1024)
    fit = page.fit_verdict()
    assert fit is not None and fit.target.kind == "cpu" and not fit.fits
    said = page.fit_message.text()
    assert "training on the CPU needs about" in said and "3.5 GiB available of 8.0 GiB" in said
    assert "QLoRA" not in said and "8-bit" not in said  # bitsandbytes does not run on the CPU
    assert not page.start_button.isEnabled()
    assert "Start trains on the CPU" in page.vram_panel.verdict.text()
    state.set_token_stats(short_rows(longest=200))  # rows are padded to the longest in their batch
    assert page.fit_verdict().fits  # 2.8 GiB: within 90% of the 3.5 available (vram.fits) and page.start_button.isEnabled()
    assert page.fit_verdict().tokens == 4 * 200



def test_a_cpu_run_over_the_free_ram_but_under_all_of_it_is_a_warning(qtbot, state, monkeypatch):
    """The CPU estimate errs high (6.3 GiB for the default bundled job, 2.6 GiB measured): over
    the RAM free now it warns, and only over all of the machine's RAM does it hold Start back."""
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    monkeypatch.setattr(memory_fit, "available_ram", lambda: (2 * GIB, 8 * GIB))
    page = make_page(qtbot, state)
    state.set_model(inspect_model(bundled_model_path()))
    fit = page.fit_verdict()
    assert fit is not None and not fit.fits and not fit.blocks
    assert page.fit_message.text().startswith("May not fit") and page.start_button.isEnabled()
    assert not page.start_anyway.isVisible()


# -- finding 10: typed values the form can't take are said, by label ----------------------------------


def type_into(qtbot, box: QAbstractSpinBox, text: str) -> None:
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, text)


def leave(box: QAbstractSpinBox) -> None:
    QApplication.sendEvent(box, QFocusEvent(QEvent.Type.FocusOut, Qt.FocusReason.TabFocusReason))


def test_rank_0_is_said_by_label_and_then_said_again_when_put_back(qtbot, state):
    page = make_page(qtbot, state)
    set_field(page, "lora.r", 8)
    rank = page.form.bindings["lora.r"].widget
    type_into(qtbot, rank, "0")
    assert rank.text() == "0"  # in the box, not silently dropped
    lines = page.issue_list.lines()
    assert "Rank (r) “0” is below the smallest allowed, 1" in lines, lines
    assert not page.start_button.isEnabled()
    assert "color" in page.form.bindings["lora.r"].caption().styleSheet()
    leave(rank)
    assert rank.value() == 8
    assert page.issue_list.lines() == ["Rank (r): “0” was not taken: it is below the smallest allowed, 1; it stays 8."]
    assert page.start_button.isEnabled()
    set_field(page, "lora.r", 16)  # the next edit clears the note
    assert page.issue_list.lines() == ["✓ Ready to train."]


def test_a_learning_rate_of_fast_is_said_by_label(qtbot, state):
    page = make_page(qtbot, state)
    lr = page.form.bindings["training.learning_rate"].widget
    before = lr.value()
    type_into(qtbot, lr, "fast")
    assert lr.text() == "fast"
    assert "Learning rate “fast” is not a number: type one such as 2e-4" in page.issue_list.lines()
    assert not page.start_button.isEnabled()
    qtbot.keyClick(lr, Qt.Key.Key_Return)
    assert lr.value() == before
    assert page.issue_list.lines() == [f"Learning rate: “fast” was not taken: it is not a number; it stays "
                                       f"{lr.text()}."]


@pytest.mark.parametrize(("edits", "label", "words"), [
    ({"training.learning_rate": 0.0}, "Learning rate", "must be in (0, 1)"),
    ({"training.offload_activations": True, "training.gradient_checkpointing": False},
     "Offload checkpoints to CPU", "needs “Gradient checkpointing” on"),
    ({"dataset.chunk_overlap": 600, "training.max_length": 512}, "Block overlap", "below “Max length” (512)"),
])
def test_train_page_messages_name_fields_by_their_form_labels(qtbot, state, edits, label, words):
    page = make_page(qtbot, state)
    for name, value in edits.items():
        set_field(page, name, value)
    shown = "\n".join(page.issue_list.lines())
    assert f"{label} " in shown and words in shown, shown
    assert "training." not in shown and "dataset." not in shown
    assert SPECS[next(iter(edits))].label == label
    caption = page.form.bindings[next(iter(edits))].caption()
    assert words in caption.toolTip()


# -- finding 10: names as saved, merges said before they run --------------------------------------------


def library_card(name: str, method: str = "lora") -> Card:
    return Card.from_dict({"name": name, "method": method, "base_model": {"id": "bundled",
                           "name": "SmolLM2-135M-Instruct"}, "lora": {"r": 4, "alpha": 8},
                           "peft_config": {"r": 4, "target_modules": ["q_proj", "v_proj"]}})


def test_renaming_says_and_reports_the_name_it_saves(qtbot, state, tmp_path):
    with Library() as library:
        library.add(make_adapter(tmp_path / "a"), library_card("pirate"))
    dialog = NameDialog("Rename", "New name for pirate (all versions):", "pirate")
    qtbot.addWidget(dialog)
    dialog.edit.setText("pirate voice/x")
    assert "Saved as “pirate-voice-x”" in dialog.note.text() and dialog.name() == "pirate-voice-x"
    dialog.edit.setText("///")
    assert dialog.name() is None and "not a usable adapter name" in dialog.note.text()
    page = LibraryPage(state)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=5000)
    page.table.select_ref("pirate/v1")
    assert page.rename_selected("pirate voice/x")
    assert "Renamed pirate to pirate-voice-x" in page.message.text()
    with Library() as library:
        assert [e.ref for e in library.entries()] == ["pirate-voice-x/v1"]


@pytest.fixture
def merge_library(tmp_path):
    with Library() as library:
        library.add(make_adapter(tmp_path / "plain"), library_card("pirate"))
        dora = make_adapter(tmp_path / "dora")
        config = json.loads((dora / "adapter_config.json").read_text())
        (dora / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
        library.add(dora, library_card("poet", "lora+dora"))
        library.add(make_adapter(tmp_path / "old-mix"), library_card("mix", "merge (linear)"))


def merge_page(qtbot, state) -> MergePage:
    page = MergePage(state)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.show()
    qtbot.waitUntil(lambda: not page.loading(), timeout=5000)  # the list is read in the pool
    return page


def test_a_reused_merge_name_and_a_dora_lora_cat_are_said_before_merging(qtbot, state, merge_library):
    page = merge_page(qtbot, state)
    page.check("pirate/v1")
    page.check("poet/v1")
    page.combination.setCurrentText("cat")
    text = page.preview.text()
    assert "mixes DoRA and plain LoRA adapters" in text and "magnitudes" in text
    assert "Saved as <b>merged-pirate</b>" in text and "taken" not in text
    page.name.setText("mix")
    text = page.preview.text()
    assert "that name is taken (newest mix/v1)" in text and "next version" in text
    assert "made another way (merge (cat), not merge (linear))" in text
    page.name.setText("my mix!")
    assert "Saved as <b>my-mix</b> (“my mix!” made folder-safe)" in page.preview.text()
    page.check("poet/v1", False)
    page.check("mix/v1")  # two plain adapters: no DoRA note
    assert "DoRA" not in page.preview.text()


def test_merge_help_has_no_raw_backticks_and_every_control_explains_itself(qtbot, state, merge_library):
    page = merge_page(qtbot, state)
    for index in range(page.combination.count()):
        page.combination.setCurrentIndex(index)
        page.check("pirate/v1")
        page.check("mix/v1")
        assert "`" not in page.preview.text() and "`" not in page.combination.toolTip()
        assert "`" not in str(page.combination.itemData(index, Qt.ItemDataRole.ToolTipRole))
    controls = [w for kind in (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QTableWidget)
                for w in page.findChildren(kind)
                if not isinstance(w.parent(), (QAbstractSpinBox, QComboBox, QTableWidget))]  # their own parts
    assert len(controls) >= 14
    untold = [f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}" for w in controls if not w.toolTip().strip()]
    assert untold == []
    for row in range(page.table.rowCount()):
        assert page.table.item(row, 0).toolTip()
