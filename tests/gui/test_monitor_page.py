"""The Monitor page on real runs: live charts, the buttons, and every way a run can end."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from tiny_jobs import tiny_job_dict

from studio.core import protocol, runs
from studio.core.faults import FAULT_VARIABLE
from studio.core.job_schema import job_from_dict
from studio.gui.pages.monitor_page import MonitorPage
from studio.gui.run_launcher import start_run
from studio.worker.errors import OOM_HINT

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)

LONG = 60_000  # ms: a worker's start (importing torch) is slow on a busy machine


def monitor_job(model_dir: Path, **training) -> dict:
    """The shared tiny job (tests/tiny_jobs.py), long enough to watch."""
    return tiny_job_dict(model_dir, 2000, training=training)


@pytest.fixture
def page(monitor_page):
    return monitor_page


def wait_until_over(qtbot, page: MonitorPage, run_dir: Path) -> None:
    qtbot.waitUntil(lambda: page.follower is not None and page.follower.done, timeout=LONG)
    qtbot.waitUntil(lambda: not runs.is_locked(run_dir), timeout=30_000)


def written(run_dir: Path, *lines: str | bytes) -> Path:
    with open(run_dir / runs.EVENTS_NAME, "ab") as handle:
        for line in lines:
            handle.write(line.encode() if isinstance(line, str) else line)
    return run_dir


def test_a_live_run_draws_pauses_checkpoints_and_stops_safely(page, qtbot, tiny_model_dir):
    run_dir = start_run(job_from_dict(monitor_job(tiny_model_dir)))
    page.follow(run_dir)
    assert page.active_run() == run_dir
    loss = page.view.charts.loss
    qtbot.waitUntil(lambda: loss.point_count("loss") >= 3, timeout=LONG)
    seen = loss.point_count("loss")
    qtbot.waitUntil(lambda: loss.point_count("loss") > seen, timeout=LONG)
    assert "step" in page.view.header.stats.text().lower()
    assert page.view.charts.lr.point_count("lr") > 0

    page.toggle_pause()
    assert page.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: any(e.get("name") == "paused" for e in runs.read_events(run_dir)), timeout=LONG)
    page.toggle_pause()
    assert page.pause_button.text() == "Pause"
    page.checkpoint_now()
    qtbot.waitUntil(lambda: loss.point_count("checkpoint") >= 1, timeout=LONG)

    page.stop_run()
    wait_until_over(qtbot, page, run_dir)
    assert page.view.status == "stopped" == runs.summarize(run_dir).status
    assert str(run_dir / runs.ADAPTER_NAME) in page.view.banner.text()
    assert (run_dir / runs.ADAPTER_NAME / "adapter_model.safetensors").exists()
    assert page.active_run() is None
    assert not any(b.isEnabled() for b in (page.pause_button, page.stop_button, page.cancel_button,
                                           page.checkpoint_button))


def test_out_of_memory_shows_the_hint_and_reruns_with_the_fix(page, qtbot, state, tiny_model_dir):
    run_dir = runs.create_run_dir("oom")
    (run_dir / runs.JOB_NAME).write_text(json.dumps(monitor_job(tiny_model_dir, grad_accum=1)))
    written(run_dir, protocol.encode(protocol.Hello(pid=1)), protocol.encode(protocol.Phase("training")),
            *(protocol.encode(protocol.Step(step=i, total_steps=2000, epoch=0.1 * i, loss=3.0 - 0.1 * i, lr=1e-2))
              for i in range(1, 4)),
            protocol.encode(protocol.Error(kind="oom", message="out of memory: CUDA out of memory. Tried to "
                                           "allocate 2.00 GiB", hint=OOM_HINT)))
    page.follow(run_dir)
    qtbot.waitUntil(lambda: page.follower.done, timeout=5000)
    text = page.view.banner.text()
    assert "Out of memory" in text and "oom" in text and OOM_HINT in text
    assert page.view.banner.action.isVisible() and page.view.banner.action.text() == "Re-run with the fix"
    assert page.view.status == "failed" and page.active_run() is None

    started: list[str] = []
    state.run_started.connect(started.append)
    qtbot.mouseClick(page.view.banner.action, Qt.MouseButton.LeftButton)
    assert len(started) == 1
    new_run = Path(started[0])
    assert new_run != run_dir and page.run_dir == new_run and page.active_run() == new_run
    training = json.loads((new_run / runs.JOB_NAME).read_text())["training"]
    assert (training["batch_size"], training["grad_accum"], training["gradient_checkpointing"]) == (2, 2, True)
    qtbot.waitUntil(lambda: page.worker_pid() is not None, timeout=LONG)  # its control socket is up
    page.cancel_run(confirm=False)
    wait_until_over(qtbot, page, new_run)
    assert page.view.status == "cancelled" and "Cancelled" in page.view.banner.text()


def test_a_killed_worker_is_reported_as_died(page, qtbot, tiny_model_dir):
    run_dir = start_run(job_from_dict(monitor_job(tiny_model_dir)))
    page.follow(run_dir)
    qtbot.waitUntil(lambda: page.worker_pid() is not None, timeout=LONG)
    os.kill(page.worker_pid(), signal.SIGKILL)
    wait_until_over(qtbot, page, run_dir)
    assert "the worker died without finishing" in page.view.banner.text().lower()
    assert page.view.status == "failed" == runs.summarize(run_dir).status
    assert page.view.header.phase.text() == "Failed"
    assert page.active_run() is None and not page.stop_button.isEnabled()


def test_garbage_and_a_torn_last_line_do_not_break_the_page(page, qtbot):
    run_dir = runs.create_run_dir("garbage")

    def step(i: int) -> str:
        return protocol.encode(protocol.Step(step=i, total_steps=10, epoch=i / 10, loss=2.0 / i, lr=1e-3))

    torn = step(3)
    written(run_dir, protocol.encode(protocol.Hello(pid=4242)), "not json at all\n", "[1, 2, 3]\n",
            '{"v": 1, "type": "step"}\n', '{"v": 99, "type": "step", "step": 1}\n', '{"v": 1, "type": "teleport"}\n',
            step(1), b"\xff\xfe\x00 binary\n", "\n",
            '{"v": 1, "type": "step", "step": 2, "total_steps": 10, "epoch": "x", "loss": "high", "lr": []}\n',
            '{"v": 1, "type": "system", "gpus": ["nonsense", {"index": "x"}], "cpu_percent": "lots"}\n',
            '{"v": 1, "type": "sample", "step": 2, "prompt": null, "text": {"a": 1}}\n',
            '{"v": 1, "type": "phase", "name": 7}\n',
            step(2), torn[:30])
    page.follow(run_dir)
    loss = page.view.charts.loss
    qtbot.waitUntil(lambda: loss.point_count("loss") == 2, timeout=5000)
    assert "skipped a bad line" in page.view.log.toPlainText()
    assert page.active_run() == run_dir  # no final event yet: still following

    written(run_dir, torn[30:], protocol.encode(protocol.Done(outputs={"adapter_path": "/x/adapter"})))
    qtbot.waitUntil(lambda: page.follower.done, timeout=5000)
    assert loss.point_count("loss") == 3
    assert page.view.status == "done" and "/x/adapter" in page.view.banner.text()


def test_oom_fix_for_a_batch_of_one_shortens_the_rows():
    from studio.gui.pages.monitor_page import oom_fix

    fixed = oom_fix({"training": {"batch_size": 1, "grad_accum": 4, "max_length": 2048}})["training"]
    assert (fixed["batch_size"], fixed["grad_accum"], fixed["max_length"]) == (1, 4, 1024)
    assert fixed["gradient_checkpointing"] is True
    halved = oom_fix({"training": {"batch_size": 8, "grad_accum": 1, "max_length": 2048}})["training"]
    assert (halved["batch_size"], halved["grad_accum"], halved["max_length"]) == (4, 2, 2048)


def test_a_hung_worker_is_named_and_ended_from_the_banner(page, qtbot, tiny_model_dir, monkeypatch):
    job = monitor_job(tiny_model_dir, save_steps=2)
    monkeypatch.setenv(FAULT_VARIABLE, "hang@3")  # the worker inherits it
    page.state.change_settings(hang_timeout_s=2.0)  # the setting (settings.json) is 600 s by default
    run_dir = start_run(job_from_dict(job))
    page.follow(run_dir)
    # "since step 2": the drill's hang, not a slow first step of a busy machine (over 2 s too)
    qtbot.waitUntil(lambda: page.view.banner.title.text() == "The worker may be hung"
                    and "since step 2" in page.view.banner.text(), timeout=LONG)
    assert "No progress for" in page.view.banner.text()
    assert page.view.banner.action.isVisible() and page.view.banner.action.text() == "End the worker"
    page.grab().save("/tmp/monitor_hang.png")
    qtbot.mouseClick(page.view.banner.action, Qt.MouseButton.LeftButton)
    wait_until_over(qtbot, page, run_dir)
    assert page.view.status == "cancelled" == runs.summarize(run_dir).status
    assert runs.latest_checkpoint(run_dir).name == "checkpoint-2"


def test_a_truncated_events_file_is_said_and_following_goes_on(page, qtbot):
    run_dir = runs.create_run_dir("truncated")

    def step(i: int) -> str:
        return protocol.encode(protocol.Step(step=i, total_steps=10, epoch=i / 10, loss=2.0 / i, lr=1e-3))

    written(run_dir, protocol.encode(protocol.Hello(pid=4242)), step(1), step(2), step(3))
    page.follow(run_dir)
    loss = page.view.charts.loss
    qtbot.waitUntil(lambda: loss.point_count("loss") == 3, timeout=5000)
    (run_dir / runs.EVENTS_NAME).write_bytes(b"")  # cut to nothing under the follower's feet
    written(run_dir, step(4))
    qtbot.waitUntil(lambda: "events file shrank" in page.view.log.toPlainText(), timeout=5000)
    written(run_dir, step(5), protocol.encode(protocol.Done(outputs={"adapter_path": "/x/adapter"})))
    qtbot.waitUntil(lambda: page.follower.done, timeout=5000)
    assert loss.point_count("loss") >= 4 and page.view.status == "done"


def test_a_flood_of_events_is_all_shown_while_the_window_keeps_answering(page, qtbot):
    """20,000 events written as fast as a thread can: every step is drawn, and a timer on
    the GUI thread keeps firing throughout (the stall itself is measured by
    scripts/bench_gui_events.py, not timed here)."""
    import threading

    from PySide6.QtCore import QTimer

    run_dir = runs.create_run_dir("flood")
    written(run_dir, protocol.encode(protocol.Hello(pid=4242)))
    total = 20_000
    lines = [protocol.encode(protocol.Step(step=i, total_steps=total, epoch=i / total, loss=1.0 + 1.0 / i, lr=1e-3))
             for i in range(1, total + 1)]
    ticks = []
    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: ticks.append(1))
    heartbeat.start()
    page.follow(run_dir)
    writer = threading.Thread(target=lambda: [written(run_dir, *lines[i:i + 500]) for i in range(0, total, 500)])
    writer.start()
    loss = page.view.charts.loss
    qtbot.waitUntil(lambda: loss.point_count("loss") == total, timeout=LONG)
    writer.join()
    heartbeat.stop()
    assert len(ticks) >= 5  # the event loop ran between the follower's batches
    assert page.view.header.phase.text() and page.active_run() == run_dir


def test_the_phase_line_fits_the_smallest_window(qtbot, window):
    """At 960 x 640 the phase's line sat beside the run id and four buttons, squeezed to
    nothing (issue 21); it has its own row now, cut with "…" to the window, whole in its tooltip."""
    window.resize(960, 640)
    page = window.monitor_page
    window.show_page("Monitor")
    run_dir = runs.create_run_dir("a-rather-long-run-name-for-the-smallest-window")
    line = ("294 train / 33 held-out rows; 4,884,480 trainable of 139,400,000 parameters; cpu float32; "
            "packing off; fast path: packing off, one row a micro-batch, accumulated over 4")
    written(run_dir, protocol.encode(protocol.Hello(pid=4242)),
            protocol.encode(protocol.Phase("preparing_data", done=294, total=327, detail=line)))
    page.follow(run_dir)
    header = page.view.header
    qtbot.waitUntil(lambda: header.detail.text() == line, timeout=5000)
    qtbot.waitUntil(lambda: header.detail.width() > 300, timeout=5000)
    shown = header.detail.shown()
    assert shown.endswith("…") and header.detail.toolTip() == line
    assert header.detail.fontMetrics().horizontalAdvance(shown) <= header.detail.width()
    right = header.detail.mapTo(page, header.detail.rect().topRight()).x()
    assert right <= page.width()
    for button in page._buttons():  # the buttons stay whole on the window too
        assert button.mapTo(page, button.rect().topRight()).x() <= page.width()
        assert button.width() >= button.sizeHint().width()
    assert header.stats.mapTo(page, header.stats.rect().topRight()).x() <= page.width()
    page._drop_follower()


def test_the_finished_banner_offers_the_next_steps_with_the_adapter(qtbot, window, tmp_path):
    from library_support import make_adapter

    from studio.core.cards import Card
    from studio.core.library import Library
    from studio.gui.background import tasks_in_flight

    with Library() as library:
        ref = library.add(make_adapter(tmp_path / "a"), Card.from_dict({"name": "pirate", "method": "lora"})).ref
    assert ref == "pirate/v1"
    run_dir = runs.create_run_dir("finished")
    written(run_dir, protocol.encode(protocol.Hello(pid=4242)),
            protocol.encode(protocol.Phase("training", done=0, total=40)),
            protocol.encode(protocol.Step(step=40, total_steps=40, epoch=1.0, loss=1.5, lr=1e-3)),
            protocol.encode(protocol.Done(outputs={"adapter_path": str(run_dir / "adapter"), "library_ref": ref,
                                                   "metrics": {"steps": 40, "train_tokens": 148_256,
                                                               "tokens_trained": 35_104}})))
    page = window.monitor_page
    page.follow(run_dir)
    qtbot.waitUntil(lambda: page.follower.done, timeout=5000)
    banner = page.view.banner
    assert banner.title.text() == "Finished  ·  pirate/v1"
    assert "In the library as pirate/v1" in banner.text() and "tokens trained 35,104" in banner.text()
    assert "148,256" not in banner.text()  # the dataset's tokens, not the run's
    steps = {button.text(): button for button in banner.next_steps}
    assert list(steps) == ["Open in Library", "Chat in Playground", "Compare with base"]

    qtbot.mouseClick(steps["Open in Library"], Qt.MouseButton.LeftButton)
    assert window.current_page_name() == "Library"
    qtbot.waitUntil(lambda: tasks_in_flight() == 0 and window.library_page.table.selected_refs() == [ref],
                    timeout=5000)

    compare = window.compare_page
    compare.set_adapters(["some/v3", "other/v1"])
    qtbot.mouseClick(steps["Compare with base"], Qt.MouseButton.LeftButton)
    assert window.current_page_name() == "Compare"
    assert compare.adapters() == [ref] and compare.base_box.isChecked() and compare.tabs.currentIndex() == 0

    qtbot.mouseClick(steps["Chat in Playground"], Qt.MouseButton.LeftButton)
    assert window.current_page_name() == "Compare" and compare.tabs.currentWidget() is compare.playground
    qtbot.waitUntil(lambda: not compare.looking_up(), timeout=5000)
    assert compare.playground.model.currentText() == ref  # still, once the lookup has answered


def test_a_lone_point_is_drawn_and_the_cpu_chart_says_whose(page, qtbot):
    run_dir = runs.create_run_dir("one-step")
    written(run_dir, protocol.encode(protocol.Hello(pid=4242)),
            protocol.encode(protocol.Step(step=1, total_steps=40, epoch=0.0, loss=2.5, lr=1e-3, tokens_per_s=300.0)),
            protocol.encode(protocol.System(cpu_percent=90.0, worker_cpu_percent=45.0, rss_bytes=1 << 30)))
    page.follow(run_dir)
    charts = page.view.charts
    qtbot.waitUntil(lambda: charts.tokens.point_count("tokens_per_s") == 1, timeout=5000)
    charts.redraw()
    for chart, name in ((charts.loss, "loss_ema"), (charts.lr, "lr"), (charts.tokens, "tokens_per_s")):
        curve = chart.curves[name]
        assert curve.opts["symbol"] == "o" and curve.scatter.isVisible() and len(curve.scatter.data) == 1, name
    assert charts.cpu.title_label.text() == "Worker CPU (% of all cores)"
    assert charts.data.series["cpu_percent"].last_y() == 45.0  # the worker's, not the machine's 90
    written(run_dir, protocol.encode(protocol.Step(step=2, total_steps=40, epoch=0.1, loss=2.4, lr=1e-3,
                                                   tokens_per_s=310.0)))
    qtbot.waitUntil(lambda: charts.tokens.point_count("tokens_per_s") == 2, timeout=5000)
    charts.redraw()
    assert charts.tokens.curves["tokens_per_s"].opts["symbol"] is None  # a line from two points on
    page._drop_follower()
