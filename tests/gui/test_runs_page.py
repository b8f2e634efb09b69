"""The Runs page on run folders written the way a worker writes them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core import protocol, runs
from studio.gui.pages.runs_page import RunsPage
from studio.gui.widgets.runs_table import COLUMNS


def fake_run(label: str, steps: int = 30, final: str = "done", start: float = 1_790_000_000.0,
             ref: str | None = None, dataset: str = "bundled") -> Path:
    """A run folder as a finished worker leaves it: job.json and a realistic events.jsonl
    (``ref``: the library version its done event reports)."""
    run_dir = runs.create_run_dir(label)
    job = {"kind": "train", "model": {"path": "/models/SmolLM2-135M"}, "dataset": {"path": dataset},
           "lora": {"r": 8, "alpha": 16, "use_dora": label.endswith("dora")}, "training": {"max_steps": steps}}
    (run_dir / runs.JOB_NAME).write_text(json.dumps(job))
    t = start
    events: list[protocol.Event] = [protocol.Hello(pid=99, t=t), protocol.Phase("loading_model", t=t + 1),
                                    protocol.Phase("training", done=0, total=steps, t=t + 2)]
    for step in range(1, steps + 1):
        t += 0.5
        loss = 3.0 * math.exp(-step / 15) + 0.8 + 0.05 * math.sin(step)
        events.append(protocol.Step(step=step, total_steps=steps, epoch=step / 10, loss=loss, lr=1e-4,
                                    grad_norm=0.5, tokens_per_s=900.0, elapsed_s=t - start, eta_s=1.0, t=t))
        if step % 10 == 0:
            events.append(protocol.Eval(step=step, eval_loss=loss + 0.1, perplexity=math.exp(loss + 0.1), t=t))
            events.append(protocol.System(cpu_percent=150.0, rss_bytes=2 << 30, t=t))
    if final == "done":
        events.append(protocol.Done(outputs={"adapter_path": str(run_dir / "adapter"), "stopped": False,
                                             "library_ref": ref,
                                             "metrics": {"train_loss": loss, "eval_loss": loss + 0.1,
                                                         "peak_memory_bytes": 19 * 2**30,
                                                         "estimated_peak_bytes": int(18.84 * 2**30)}}, t=t + 1))
    elif final == "oom":
        events.append(protocol.Error(kind="oom", message="out of memory", hint="lower the batch", t=t + 1))
    with open(run_dir / runs.EVENTS_NAME, "w", encoding="utf-8") as handle:
        handle.writelines(protocol.encode(event) for event in events)
    return run_dir


@pytest.fixture
def page(qtbot, state):
    runs_page = RunsPage(state)
    qtbot.addWidget(runs_page)
    runs_page.resize(1100, 700)
    return runs_page


def row_of(page: RunsPage, run_dir: Path) -> int:
    row = page.table.row_of(run_dir)
    assert row is not None, f"{run_dir.name} is not listed"
    return row


def fake_job_run(kind: str, job: dict, outputs: dict | None = None) -> Path:
    """A finished eval, merge or compare run: its job.json and a done event."""
    run_dir = runs.create_run_dir(kind)
    (run_dir / runs.JOB_NAME).write_text(json.dumps({"kind": kind, "model": {"path": "/models/SmolLM2-135M"}, **job}))
    events = [protocol.Hello(pid=99, t=1_790_000_000.0), protocol.Done(outputs=outputs or {}, t=1_790_000_009.0)]
    with open(run_dir / runs.EVENTS_NAME, "w", encoding="utf-8") as handle:
        handle.writelines(protocol.encode(event) for event in events)
    return run_dir


def test_lists_runs_with_their_status_and_losses(page):
    done = fake_run("good", steps=30)
    failed = fake_run("oom-dora", steps=12, final="oom")
    page.refresh(background=False)
    assert page.table.rowCount() == 2
    good, bad = row_of(page, done), row_of(page, failed)
    text = page.table.text
    assert text(good, "Status") == "done" and text(bad, "Status") == "failed"
    assert text(good, "Method") == "lora" and text(bad, "Method") == "lora+dora"
    assert text(good, "Model") == "SmolLM2-135M"
    assert text(good, "Steps") == "30 / 30"
    summary = runs.summarize(done)
    assert text(good, "Final loss") == f"{summary.final_loss:.4f}"
    assert text(good, "Peak GPU (est.)") == "19.0 GiB (est. 18.8)"  # measured next to the estimate
    assert text(bad, "Peak GPU (est.)") == "—"
    assert text(good, "Duration") == "0:16"  # first event to last
    assert text(good, "Run") == done.name
    status = COLUMNS.index("Status")
    assert page.table.item(good, status).foreground().color() != page.table.item(bad, status).foreground().color()
    assert "2 runs" in page.count.text()


def test_runs_are_told_apart_by_name_and_dataset_and_filtered_by_kind(page, qtbot):
    """Issue 21: the table showed only ids (…-bundled-3261), so two runs could not be told apart."""
    pirate = fake_run("a", ref="pirate/v1", dataset="/data/pirate_chats.jsonl")
    poet = fake_run("b", ref="poet/v2", dataset="/data/poems.jsonl")
    evaluation = fake_job_run("eval", {"adapters": ["pirate/v1", "/runs/x/checkpoints/checkpoint-10"],
                                       "dataset": {"path": "/data/pirate_chats.jsonl"}})
    merge = fake_job_run("merge", {"adapters": ["pirate/v1", "poet/v2"], "name": "bard"},
                         {"library_ref": "bard/v1"})
    compare = fake_job_run("serve", {})
    page.refresh(background=False)
    text = page.table.text
    names = {run: text(row_of(page, run), "Name") for run in (pirate, poet, evaluation, merge, compare)}
    assert names == {pirate: "pirate/v1", poet: "poet/v2", evaluation: "pirate/v1, checkpoint-10",
                     merge: "bard/v1", compare: "—"}
    assert text(row_of(page, pirate), "Dataset") == "pirate_chats.jsonl"
    assert text(row_of(page, poet), "Dataset") == "poems.jsonl" and text(row_of(page, merge), "Dataset") == "—"
    assert page.table.item(row_of(page, pirate), COLUMNS.index("Dataset")).toolTip() == "/data/pirate_chats.jsonl"
    assert all(page.table.horizontalHeaderItem(c).toolTip() for c in range(len(COLUMNS)))

    kinds = {page.kind_filter.itemData(i): i for i in range(page.kind_filter.count())}
    assert {"", "train", "eval", "merge", "serve", "generate"} <= set(kinds)
    page.kind_filter.setCurrentIndex(kinds["train"])
    assert {page.table.text(r, "Name") for r in range(page.table.rowCount())} == {"pirate/v1", "poet/v2"}
    assert page.count.text() == "2 of 5 runs"
    page.kind_filter.setCurrentIndex(kinds["eval"])
    assert page.table.rowCount() == 1 and page.table.row_of(evaluation) == 0
    page.refresh(background=False)  # the filter holds across refreshes
    assert page.table.rowCount() == 1
    page.kind_filter.setCurrentIndex(kinds[""])
    assert page.table.rowCount() == 5 and page.count.text() == "5 runs"


def test_a_running_train_run_is_named_by_the_name_it_was_given():
    run_dir = runs.create_run_dir("live")
    (run_dir / runs.JOB_NAME).write_text(json.dumps({"kind": "train", "output": {"name": "captain"}}))
    assert runs.summarize(run_dir).name == "captain"
    assert runs.summarize(run_dir).kind == "train"


def test_refreshes_by_itself_while_visible(page, qtbot):
    page.show()
    qtbot.waitUntil(lambda: page.table.rowCount() == 0 and page.count.text() != "", timeout=5000)
    fake_run("later")
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=10_000)


def test_open_replays_a_finished_run(page, qtbot):
    run_dir = fake_run("replay", steps=40)
    page.show()
    page.refresh(background=False)
    page.table.selectRow(row_of(page, run_dir))
    assert page.open_button.isEnabled() and not page.live_button.isEnabled()
    qtbot.mouseClick(page.open_button, Qt.MouseButton.LeftButton)
    assert page.stack.currentIndex() == 1
    charts = page.view.charts
    qtbot.waitUntil(lambda: charts.loss.point_count("loss") == 40, timeout=5000)
    assert charts.loss.point_count("eval_loss") == 4
    qtbot.waitUntil(lambda: charts.cpu.point_count("cpu_percent") == 4, timeout=5000)  # redrawn in turn
    assert page.view.status == "done" and str(run_dir / "adapter") in page.view.banner.text()
    assert page.view.header.phase.text() == "Done" and "40 / 40" in page.view.header.stats.text()
    page.show_list()
    assert page.stack.currentIndex() == 0 and page.follower is None


def legend(chart) -> set[str]:
    return {label.text for _sample, label in chart.legend.items}


def test_overlay_draws_one_curve_per_run_named_in_the_legend(page, qtbot):
    first, second = fake_run("a", steps=30, ref="pirate/v1"), fake_run("b", steps=20, ref="pirate/v2")
    third = fake_run("c", steps=10)  # no name (it was not added to the library): its id
    page.show()
    page.refresh(background=False)
    page.table.selectAll()
    assert page.overlay_button.isEnabled()
    qtbot.mouseClick(page.overlay_button, Qt.MouseButton.LeftButton)
    assert page.stack.currentIndex() == 2
    chart = page.overlay_view.chart
    assert {name: chart.point_count(name) for name in chart.curves} == {first.name: 30, second.name: 20,
                                                                        third.name: 10}
    assert legend(chart) == {"pirate/v1", "pirate/v2", third.name}
    assert "smoothed" in chart.title_label.text()
    page.overlay_view.smooth.setChecked(False)
    chart = page.overlay_view.chart
    assert len(chart.curves) == 3 and chart.title_label.text() == "Training loss"
    assert legend(chart) == {"pirate/v1", "pirate/v2", third.name}  # still by name after the redraw


def test_two_runs_of_one_name_are_told_apart_in_the_legend():
    from studio.gui.widgets.loss_overlay import legend_labels

    a, b, c = Path("/runs/20261203-1-tiny-aaaa"), Path("/runs/20261203-2-tiny-bbbb"), Path("/runs/20261203-3-cccc")
    assert legend_labels([a, b, c], {a: "pirate", b: "pirate", c: "poet/v1"}) == {
        a: "pirate (aaaa)", b: "pirate (bbbb)", c: "poet/v1"}


def test_follow_live_hands_a_running_run_to_the_monitor(window, qtbot):
    run_dir = fake_run("live", steps=5, final="none")
    runs_page = window.runs_page
    with runs.hold_lock(run_dir):  # looks like a live worker
        window.show_page("Runs")
        runs_page.refresh(background=False)
        runs_page.table.selectRow(row_of(runs_page, run_dir))
        assert runs_page.table.text(row_of(runs_page, run_dir), "Status") == "running"
        assert runs_page.live_button.isEnabled()
        qtbot.mouseClick(runs_page.live_button, Qt.MouseButton.LeftButton)
        assert window.current_page_name() == "Monitor"
        assert window.monitor_page.active_run() == run_dir
        qtbot.waitUntil(lambda: window.monitor_page.view.charts.loss.point_count("loss") == 5, timeout=5000)
    # The "worker" is gone without a final event: the monitor says so (and the window closes quietly).
    qtbot.waitUntil(lambda: window.monitor_page.active_run() is None, timeout=10_000)
    assert "died" in window.monitor_page.view.banner.text()


def test_the_finished_banner_gives_the_runs_real_average():
    from studio.core.outputs import TrainMetrics
    from studio.gui.widgets.run_view import format_metrics

    text = format_metrics(TrainMetrics(train_loss=1.5, steps=225, tokens_per_s=1712.4))
    assert text == "train loss 1.5000  ·  steps 225  ·  average tokens/s 1,712"
    # The tokens it trained, not the dataset's count (issue 21: a stopped run showed all 148,256).
    stopped = format_metrics(TrainMetrics(steps=9, train_tokens=148_256, tokens_trained=35_104))
    assert stopped == "steps 9  ·  tokens trained 35,104" and "148,256" not in stopped
