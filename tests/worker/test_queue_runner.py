"""The queue's runner with real workers on the tiny model: order, failures, kills, GPU sets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_jobs import tiny_job

from studio.core import atomic, runs
from studio.core.library import Library
from studio.core.queue import devices, runner
from studio.core.queue.store import QueueStore

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(studio_home: Path):
    with QueueStore() as opened:
        yield opened


def _run_queue(store: QueueStore, max_s: float = 240.0) -> None:
    runner.QueueRunner(store, poll_s=0.2).run(max_s=max_s)
    assert not store.entries(("queued", "starting", "running")), "the queue did not finish in time"


def _run_folders() -> list[Path]:
    from studio.core import paths

    return sorted(p for p in paths.runs_dir().iterdir() if p.is_dir())


def test_three_jobs_run_in_order_and_a_failing_one_does_not_stop_the_next(store, tiny_model_dir, tmp_path):
    first = store.add(tiny_job(tiny_model_dir, steps=2, output={"name": "first"}))
    half_started = runs.create_run_dir("first")  # a runner was killed after claiming it, before its worker
    atomic.write_text(half_started / runs.JOB_NAME, first.job)
    assert store.mark_starting(first.id, "cpu", half_started)
    failing = store.add(tiny_job(tiny_model_dir, steps=2, output={"name": "failing"}))
    store.add(tiny_job(tiny_model_dir, steps=2, output={"name": "third"}))
    job = failing.job_data()
    job["dataset"]["path"] = str(tmp_path / "gone.jsonl")  # deleted after it was queued: fails in the worker
    with store.transaction() as db:
        db.execute("UPDATE entries SET job = ? WHERE id = ?", (json.dumps(job), failing.id))

    _run_queue(store)

    ended = sorted(store.entries(), key=lambda e: e.id)
    assert [e.state for e in ended] == ["done", "failed", "done"]
    assert "gone.jsonl" in ended[1].message
    assert ended[0].started_t < ended[1].started_t < ended[2].started_t  # in order, one at a time
    assert ended[0].ended_t <= ended[1].started_t and ended[1].ended_t <= ended[2].started_t
    assert [e.devices for e in ended] == ["cpu"] * 3
    assert len(_run_folders()) == 3 and all(e.run_dir for e in ended)
    assert ended[0].run_dir == str(half_started) and ended[0].attempts == 1  # started there, once
    assert ended[0].step == ended[0].total_steps == 2
    with Library() as library:
        assert {e.name for e in library.entries()} >= {"first", "third"}


def test_stop_on_failure_pauses_the_queue_after_the_failed_job(store, tiny_model_dir, tmp_path):
    store.set_stop_on_failure(True)
    failing = store.add(tiny_job(tiny_model_dir, steps=2, output={"name": "failing"}))
    store.add(tiny_job(tiny_model_dir, steps=2, output={"name": "waits"}))
    job = failing.job_data()
    job["dataset"]["path"] = str(tmp_path / "gone.jsonl")
    with store.transaction() as db:
        db.execute("UPDATE entries SET job = ? WHERE id = ?", (json.dumps(job), failing.id))
    runner.QueueRunner(store, poll_s=0.2).run(max_s=120)
    assert [e.state for e in sorted(store.entries(), key=lambda e: e.id)] == ["failed", "queued"]
    assert store.paused and f"#{failing.id} failed" in store.pause_reason()


def _kill_the_runner_mid_run(store, entry_id: int, step: int) -> None:
    """Start a `queue run` process, wait until entry ``entry_id`` reached ``step``, SIGKILL the runner."""
    first_runner = subprocess.Popen([sys.executable, "-m", "studio", "queue", "run"],
                                    env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and store.get(entry_id).step < step:
            time.sleep(0.2)
        assert store.get(entry_id).state == "running" and store.get(entry_id).step >= step
    finally:
        first_runner.send_signal(signal.SIGKILL)
        first_runner.wait()


def test_a_killed_runner_leaves_its_run_going_and_the_next_runner_finishes_the_queue_once(
        store, tiny_model_dir):
    slow = store.add(tiny_job(tiny_model_dir, steps=400, output={"name": "slow"}))  # long enough to be mid-run
    store.add(tiny_job(tiny_model_dir, steps=2, output={"name": "after"}))
    _kill_the_runner_mid_run(store, slow.id, step=2)
    entry = store.get(slow.id)
    assert runner.worker_alive(entry.pid, Path(entry.run_dir))  # the run outlived its runner
    assert runner.runner_pid() is None
    runs_before = _run_folders()

    from studio.core import control_client

    control_client.send_command(Path(entry.run_dir), "stop")  # end it sooner: it saves what it has
    _run_queue(store)

    ended = sorted(store.entries(), key=lambda e: e.id)
    assert [e.state for e in ended] == ["stopped", "done"]
    assert ended[0].run_dir == entry.run_dir  # followed, not started again
    assert len(_run_folders()) == len(runs_before) + 1 == 2


def test_simulated_gpus_run_two_jobs_side_by_side_each_on_its_own(store, tiny_model_dir, monkeypatch):
    monkeypatch.setenv(devices.GPUS_ENV, "0,1")
    for name in ("left", "right", "third"):
        store.add(tiny_job(tiny_model_dir, steps=4, output={"name": name}, training={"device": "auto"}))
    _run_queue(store)
    ended = sorted(store.entries(), key=lambda e: e.id)
    assert [e.state for e in ended] == ["done"] * 3
    left, right, third = ended
    assert {left.devices, right.devices} == {"0", "1"}
    assert right.started_t < left.ended_t  # side by side
    assert third.started_t >= min(left.ended_t, right.ended_t)  # waited for a free GPU


def test_cancelling_a_running_entry_ends_it_cancelled_and_the_queue_goes_on(store, tiny_model_dir):
    long = store.add(tiny_job(tiny_model_dir, steps=400, output={"name": "long"}))
    store.add(tiny_job(tiny_model_dir, steps=2, output={"name": "next"}))
    queue_runner = runner.QueueRunner(store, poll_s=0.2)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and store.get(long.id).step < 1:
        queue_runner.tick()
        time.sleep(0.2)
    entry = store.get(long.id)
    assert entry.state == "running" and entry.step >= 1, entry
    assert "cancelled: its worker stopped at once" in runner.cancel(store, long.id)
    _run_queue(store)
    assert [e.state for e in sorted(store.entries(), key=lambda e: e.id)] == ["cancelled", "done"]
    assert store.get(long.id).message == "cancelled by the user; nothing was saved"  # not a pruned trial


def test_a_prune_asked_while_no_runner_runs_is_recorded_by_the_next_runner(store, tiny_model_dir):
    """The sweep driver prunes a trial after the runner that started it was killed: the reason is
    kept in the queue on disk, and the runner started next records the end as pruned in those
    words, not as the worker's "cancelled by the user"."""
    trial = store.add(tiny_job(tiny_model_dir, steps=400, output={"name": "trial"}), source="sweep s trial 0")
    _kill_the_runner_mid_run(store, trial.id, step=1)
    reason = "pruned by the sweep at step 1: eval_loss 4.1 above the median of earlier trials at that step, 0.6"
    assert "pruned: its worker stopped at once" in runner.cancel(store, trial.id, pruned=reason)
    assert store.get(trial.id).state == "running"  # its worker is gone, but no runner has seen it end
    with QueueStore() as later:  # a new runner, its own connection to the queue on disk
        runner.QueueRunner(later, poll_s=0.2).run(max_s=60)
    ended = store.get(trial.id)
    assert (ended.state, ended.message) == ("pruned", reason)
    assert runs.summarize(Path(ended.run_dir)).message == f"{reason}; nothing was saved"  # the worker's own events
