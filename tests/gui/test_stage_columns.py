"""The stage a run or an adapter was trained with (issue 23), on the Runs page and in the Library
(column, card, lineage), and no perplexity for a preference adapter anywhere, Compare's diff too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from library_support import make_adapter
from test_monitor_preference import preference_run
from test_runs_page import fake_job_run, fake_run

from studio.core import compare_report, runs
from studio.core.cards import Card
from studio.core.library import Library
from studio.core.stage_names import card_stage, run_stage, without_preference_perplexity
from studio.gui.background import tasks_in_flight
from studio.gui.pages.library_page import LibraryPage
from studio.gui.pages.runs_page import RunsPage
from studio.gui.widgets.library_table import COLUMNS as LIBRARY_COLUMNS


def adapter_card(name: str, stage: str | None, perplexity: float = 2.9) -> Card:
    """A card as a finished run writes it: a preference stage's with its preference section and numbers;
    ``stage`` None: a merged adapter's, with no training section."""
    data: dict = {"name": name, "method": "lora", "base_model": {"id": "bundled", "name": "SmolLM2-135M-Instruct"},
                  "lora": {"r": 8, "alpha": 16}, "peft_config": {"r": 8, "target_modules": ["q_proj", "v_proj"]},
                  "dataset": {"path": "bundled-preference" if stage not in (None, "sft") else "bundled"},
                  "metrics": {"train_loss": 0.5, "eval_loss": 0.6, "perplexity": perplexity}}
    if stage is not None:
        data["training"] = {"stage": stage, "learning_rate": 5e-5}
    if stage not in (None, "sft"):
        data["preference"] = {"beta": 0.1, "loss_type": "sigmoid", "label_smoothing": 0.0, "simpo_gamma": 0.5,
                              "cpo_alpha": 0.0, "desirable_weight": 1.0, "undesirable_weight": 1.0}
        data["metrics"]["preference"] = {"rewards/margins": 1.2, "eval_rewards/margins": 0.9,
                                         "eval_rewards/accuracies": 0.8}
    return Card.from_dict(data)


@pytest.fixture
def runs_page(qtbot, state):
    page = RunsPage(state)
    qtbot.addWidget(page)
    page.resize(1100, 700)
    return page


def test_the_runs_table_names_each_training_runs_stage(runs_page):
    sft, dpo = fake_run("plain", steps=10), preference_run("dpo")
    evaluation = fake_job_run("eval", {"adapters": ["pirate/v1"]})
    runs_page.refresh(background=False)
    table = runs_page.table
    stage_of = {run: table.text(table.row_of(run), "Stage") for run in (sft, dpo, evaluation)}
    assert stage_of == {sft: "SFT", dpo: "DPO", evaluation: "—"}
    assert run_stage(sft) == "sft"  # a job.json from before stages names none


def test_overlaid_losses_name_a_preference_runs_stage(runs_page):
    sft, dpo = fake_run("plain", steps=10), preference_run("dpo")
    runs_page.refresh(background=False)
    runs_page.overlay([sft, dpo])
    labels = runs_page.overlay_view.chart.legend.items
    assert sorted(label.text for _sample, label in labels) == sorted([sft.name, f"{dpo.name} · DPO"])


def test_a_replayed_preference_run_shows_its_charts_and_no_perplexity(qtbot, runs_page):
    run_dir = preference_run("simpo")
    runs_page.refresh(background=False)
    runs_page.open_run(run_dir)
    charts = runs_page.view.charts
    qtbot.waitUntil(lambda: charts.data.series["margin"].n == 12, timeout=5000)
    charts.redraw()  # the page is not shown: its charts wait for it
    assert charts.preference_mode() and charts.loss.title_label.text() == "SimPO loss"
    banner = runs_page.view.banner.text()
    assert "eval reward margin" in banner and "perplexity" not in banner


@pytest.fixture
def library_refs(tmp_path) -> dict[str, str]:
    """An SFT adapter, a DPO adapter trained on top of it, and a merge of the two."""
    with Library() as library:
        sft = library.add(make_adapter(tmp_path / "sft"), adapter_card("captain", "sft")).ref
        dpo = library.add(make_adapter(tmp_path / "dpo"), adapter_card("captain-dpo", "dpo", perplexity=1.8),
                          parents=[sft]).ref
        merged = library.add(make_adapter(tmp_path / "merged"), adapter_card("blend", None), parents=[sft, dpo]).ref
    return {"sft": sft, "dpo": dpo, "merged": merged}


@pytest.fixture
def library_page(qtbot, state, library_refs):
    page = LibraryPage(state)
    qtbot.addWidget(page)
    page.resize(1280, 760)
    page.show()
    qtbot.waitUntil(lambda: page.table.rowCount() == 3 and tasks_in_flight() == 0, timeout=5000)
    return page


def library_cell(page: LibraryPage, ref: str, column: str) -> str:
    row = next(r for r in range(page.table.rowCount()) if page.table.ref_at(r) == ref)
    return page.table.item(row, LIBRARY_COLUMNS.index(column)).text()


def test_the_library_names_each_adapters_stage_and_hides_a_preference_perplexity(library_page, library_refs):
    stage = {kind: library_cell(library_page, ref, "Stage") for kind, ref in library_refs.items()}
    assert stage == {"sft": "SFT", "dpo": "DPO", "merged": "—"}
    assert library_cell(library_page, library_refs["sft"], "Perplexity") == "2.90"
    assert library_cell(library_page, library_refs["dpo"], "Perplexity") == "—"
    assert library_page.table.horizontalHeaderItem(LIBRARY_COLUMNS.index("Stage")).toolTip()


def test_a_dpo_adapters_card_and_lineage_name_its_stage(library_page, library_refs):
    library_page.table.select_ref(library_refs["dpo"])
    html = library_page.details.card_view.toPlainText()
    assert "Stage\nDPO (beta 0.1, loss_type sigmoid, label_smoothing 0.0)" in html
    assert "simpo_gamma" not in html  # only what DPO reads
    assert "Eval reward margin\n0.900" in html and "Eval pairs ranked right\n80 %" in html
    assert "Perplexity" not in html
    lineage = library_page.details.lineage
    assert lineage.label(library_refs["sft"]) == "captain/v1 · SFT"
    assert lineage.label(library_refs["dpo"]) == "captain-dpo/v1 · DPO"
    assert lineage.label(library_refs["merged"]) == "blend/v1"  # a merge was trained by no stage

    library_page.table.select_ref(library_refs["sft"])
    html = library_page.details.card_view.toPlainText()
    assert "Stage\nSFT" in html and "Perplexity\n2.9000" in html
    assert library_page.details.lineage.label(library_refs["sft"]) == "captain/v1 · SFT"  # its DPO child is in view


def test_an_sft_only_lineage_carries_no_tags(library_page, library_refs, tmp_path):
    with Library() as library:
        child = library.add(make_adapter(tmp_path / "more"), adapter_card("captain-more", "sft"),
                            parents=[library_refs["sft"]]).ref
    library_page.refresh(background=False)
    library_page.table.select_ref(child)
    assert library_page.details.lineage.label(library_refs["sft"]) == library_refs["sft"]


def test_compares_config_diff_leaves_a_preference_adapters_perplexity_out():
    cards = {"captain/v1": adapter_card("captain", "sft"), "captain-dpo/v1": adapter_card("captain-dpo", "dpo", 1.8),
             "gone/v1": None}
    rows = dict(compare_report.diff_many(without_preference_perplexity(cards)))
    assert rows["metrics.perplexity"] == [2.9, None, None]
    assert rows["training.stage"] == ["sft", "dpo", None]
    assert cards["captain-dpo/v1"].metrics.perplexity == 1.8  # the cards themselves are left as they were
    assert [card_stage(c) for c in cards.values()] == ["sft", "dpo", ""]


def test_a_missing_or_odd_job_is_read_as_sft(tmp_path: Path):
    assert run_stage(tmp_path) == "sft"
    (tmp_path / runs.JOB_NAME).write_text("[1, 2]")
    assert run_stage(tmp_path) == "sft"
    (tmp_path / runs.JOB_NAME).write_text(json.dumps({"kind": "train", "training": {"stage": "orpo"}}))
    assert run_stage(tmp_path) == "orpo"
