"""A trial the sweep's pruner stops early reads as pruned, with its step and reason, wherever the
queue is shown (the store, ``lora-studio queue list``, the Queue and Sweeps pages), and has no
Retry; a job the user cancels still reads as cancelled. Real driver, runner and workers on the
tiny model: two trials are told to the study up front (a low eval curve), so the one real trial
is judged against them at its first eval and pruned there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import end_runner, sweep_file
from tiny_jobs import tiny_job

from studio.core import runs
from studio.core.queue import runner
from studio.core.queue.store import NOT_RETRIED, QueueStore
from studio.core.sweeps.driver import SweepDriver
from studio.core.sweeps.spec import load_sweep
from studio.core.sweeps.study import distributions, open_study, read_study

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the pages are looked at below, as tests/gui does

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EARLIER = (0.5, 0.7)  # the told trials' eval_loss at step 2: any real first eval of the tiny model is above


def _queue_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "studio", "queue", *args], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="250"), timeout=60)


def _cancelled_by_the_user(store: QueueStore, model_dir: Path) -> int:
    """A long job, started by a runner and cancelled by the user once it steps; its entry's id."""
    entry = store.add(tiny_job(model_dir, steps=400, output={"name": "mine"}), source="cli")
    queue_runner = runner.QueueRunner(store, poll_s=0.2)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and store.get(entry.id).step < 1:
        queue_runner.tick()
        time.sleep(0.2)
    assert store.get(entry.id).step >= 1, store.get(entry.id)
    assert "cancelled: its worker stopped at once" in runner.cancel(store, entry.id)
    queue_runner.run(max_s=60)
    return entry.id


def test_a_pruned_trial_reads_as_pruned_with_its_reason_and_a_user_cancel_as_cancelled(
        studio_home, tiny_model_dir, tmp_path, qtbot):
    path = sweep_file(tmp_path, tiny_model_dir, "judged", {"training.learning_rate": [1e-2, 3e-3, 1e-3]},
                      steps=200, objective="eval_loss", pruner="median")
    spec = load_sweep(path)
    study = open_study(spec)
    for value in EARLIER:  # as if they had run here: the median pruner needs two complete trials
        told = study.ask(distributions(spec))
        told.report(value, 2)
        study.tell(told, value)

    began = time.monotonic()
    try:
        SweepDriver(spec, poll_s=0.2).run(max_s=120)
    finally:
        end_runner()
    assert time.monotonic() - began < 120, "the sweep did not end in time"

    with QueueStore() as store:
        (pruned,) = store.entries()
        assert pruned.state == "pruned", pruned
        assert pruned.message.startswith("pruned by the sweep at step 2: eval_loss "), pruned.message
        assert pruned.message.endswith("above the median of earlier trials at that step, 0.6"), pruned.message
        worker_view = runs.summarize(Path(pruned.run_dir))  # its own events: cancelled, unsaved, and why
        assert worker_view.status == "cancelled"
        assert worker_view.message == f"{pruned.message}; nothing was saved", worker_view.message
        assert runs.summarize(Path(pruned.run_dir)).step < 200
        user = _cancelled_by_the_user(store, tiny_model_dir)
        cancelled = store.get(user)
        assert cancelled.state == "cancelled" and cancelled.message == "cancelled by the user; nothing was saved"

    trial = read_study("judged").trials[2]
    assert trial.state == "pruned" and trial.note == pruned.message  # the Sweeps page says the same

    listed = _queue_cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    states = {e["id"]: (e["state"], e["message"]) for e in json.loads(listed.stdout)["entries"]}
    assert states == {pruned.id: ("pruned", pruned.message), user: ("cancelled", cancelled.message)}
    table = _queue_cli("list")
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.split()[:1] in ([str(pruned.id)],
                                                                                                 [str(user)])}
    assert " pruned " in rows[str(pruned.id)] and "pruned by the sweep at step 2: eval_loss" in rows[str(pruned.id)]
    assert " cancelled " in rows[str(user)] and "cancelled by the user" in rows[str(user)]
    retried = _queue_cli("retry", str(pruned.id))
    assert retried.returncode != 0 and "is not retried" in " ".join(retried.stdout.split()), retried.stdout

    from PySide6.QtCore import QSettings

    from studio.gui.app_state import AppState
    from studio.gui.pages.queue_page import COLUMNS, QueuePage
    from studio.gui.pages.sweeps_page import COLUMNS as TRIAL_COLUMNS
    from studio.gui.pages.sweeps_page import SweepsPage

    state = AppState(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    page = QueuePage(state)
    qtbot.addWidget(page)
    page.refresh()
    rows = {page.table.item(r, 0).text(): r for r in range(page.table.rowCount())}
    row = rows[str(pruned.id)]
    assert page.table.item(row, COLUMNS.index("State")).text() == "pruned"
    assert page.table.item(row, COLUMNS.index("Run / note")).text() == pruned.message
    page.select(pruned.id)
    assert not page.retry_button.isEnabled() and page.retry_button.toolTip() == NOT_RETRIED
    assert not page.cancel_button.isEnabled() and page.remove_button.isEnabled()
    page.select(user)
    assert page.table.item(rows[str(user)], COLUMNS.index("State")).text() == "cancelled"
    assert page.retry_button.isEnabled() and "Queue a failed, stopped or cancelled" in page.retry_button.toolTip()

    sweeps = SweepsPage(state)
    qtbot.addWidget(sweeps)
    sweeps.refresh(background=False)
    assert sweeps.table.item(2, TRIAL_COLUMNS.index("State")).text() == "pruned"
    assert sweeps.table.item(2, TRIAL_COLUMNS.index("Run / note")).text() == pruned.message
