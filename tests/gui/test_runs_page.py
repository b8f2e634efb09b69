"""The Runs page on run folders written the way a worker writes them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core import protocol, runs
from studio.gui.pages.runs_page import RunsPage


def fake_run(label: str, steps: int = 30, final: str = "done", start: float = 1_790_000_000.0) -> Path:
    """A run folder as a finished worker leaves it: job.json and a realistic events.jsonl."""
    run_dir = runs.create_run_dir(label)
    job = {"kind": "train", "model": {"path": "/models/SmolLM2-135M"}, "dataset": {"path": "bundled"},
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
    return next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == run_dir.name)


def test_lists_runs_with_their_status_and_losses(page):
    done = fake_run("good", steps=30)
    failed = fake_run("oom-dora", steps=12, final="oom")
    page.refresh(background=False)
    assert page.table.rowCount() == 2
    good, bad = row_of(page, done), row_of(page, failed)
    assert page.table.item(good, 1).text() == "done" and page.table.item(bad, 1).text() == "failed"
    assert page.table.item(good, 2).text() == "lora" and page.table.item(bad, 2).text() == "lora+dora"
    assert page.table.item(good, 3).text() == "SmolLM2-135M"
    assert page.table.item(good, 4).text() == "30 / 30"
    summary = runs.summarize(done)
    assert page.table.item(good, 5).text() == f"{summary.final_loss:.4f}"
    assert page.table.item(good, 7).text() == "19.0 GiB (est. 18.8)"  # measured next to the estimate
    assert page.table.item(bad, 7).text() == "—"
    assert page.table.item(good, 8).text() == "0:16"  # first event to last
    assert page.table.item(good, 1).foreground().color() != page.table.item(bad, 1).foreground().color()
    assert "2 runs" in page.count.text()


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


def test_overlay_draws_one_curve_per_run(page, qtbot):
    first, second = fake_run("a", steps=30), fake_run("b", steps=20)
    page.show()
    page.refresh(background=False)
    page.table.selectAll()
    assert page.overlay_button.isEnabled()
    qtbot.mouseClick(page.overlay_button, Qt.MouseButton.LeftButton)
    assert page.stack.currentIndex() == 2
    chart = page.overlay_view.chart
    assert {name: chart.point_count(name) for name in chart.curves} == {first.name: 30, second.name: 20}
    assert len(chart.legend.items) == 2
    assert "smoothed" in chart.title_label.text()
    page.overlay_view.smooth.setChecked(False)
    chart = page.overlay_view.chart
    assert len(chart.curves) == 2 and chart.title_label.text() == "Training loss"


def test_follow_live_hands_a_running_run_to_the_monitor(window, qtbot):
    run_dir = fake_run("live", steps=5, final="none")
    runs_page = window.runs_page
    with runs.hold_lock(run_dir):  # looks like a live worker
        window.show_page("Runs")
        runs_page.refresh(background=False)
        runs_page.table.selectRow(row_of(runs_page, run_dir))
        assert runs_page.table.item(row_of(runs_page, run_dir), 1).text() == "running"
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
