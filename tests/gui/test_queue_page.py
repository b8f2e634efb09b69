"""The Queue page and the Train page's "Add to queue": the list, its buttons, and a real queued run."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyleOptionViewItem
from tiny_jobs import tiny_job, tiny_job_dict

from studio.core.library import Library
from studio.core.models import inspect_model
from studio.core.queue import runner
from studio.core.queue.store import NOT_RETRIED, PRUNED, QueueStore
from studio.gui.pages.queue_page import COLUMNS, QueuePage
from studio.gui.pages.train_page import TrainPage

LONG = 180_000


@pytest.fixture
def store(studio_home):
    with QueueStore() as opened:
        yield opened


@pytest.fixture
def page(qtbot, state):
    widget = QueuePage(state)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    return widget


@pytest.fixture
def no_runner_left_behind(studio_home):
    yield
    pid = runner.runner_pid()
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not pid, "the test left the queue's runner running"


def _cells(page: QueuePage, column: str) -> list[str]:
    index = COLUMNS.index(column)
    return [page.table.item(row, index).text() for row in range(page.table.rowCount())]


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_the_page_lists_the_queue_and_its_buttons_change_it(page, store, qtbot):
    store.set_paused(True, "paused by hand")  # nothing starts in this test: no runner, no worker
    for name in ("first", "second", "third"):
        store.add(tiny_job("tiny-model", output={"name": name}))
    page.refresh()
    assert _cells(page, "Job") == ["first", "second", "third"]
    assert _cells(page, "Needs") == ["CPU"] * 3
    assert _cells(page, "State") == ["queued"] * 3
    assert "Paused by hand: 0 running, 3 waiting" in page.status.text()
    assert page.pause_button.text() == "Resume queue"

    page.table.selectRow(2)
    assert not page.down_button.isEnabled() and page.up_button.isEnabled()
    _click(qtbot, page.up_button)
    assert [e.label for e in store.entries(("queued",))] == ["first", "third", "second"]
    assert _cells(page, "Job")[:3] == ["first", "third", "second"]
    assert page.selected_id() == store.entries(("queued",))[1].id  # the moved one stays selected

    page.table.selectRow(0)
    _click(qtbot, page.cancel_button)  # off the GUI thread: the page says so until it is done
    qtbot.waitUntil(lambda: "before it started" in page.message.text(), timeout=5000)
    assert store.entries()[-1].state == "cancelled"
    assert _cells(page, "State") == ["queued", "queued", "cancelled"]

    page.table.selectRow(2)
    assert page.retry_button.isEnabled() and page.remove_button.isEnabled()
    _click(qtbot, page.retry_button)  # paused: queued again, last, and still no runner
    assert [e.label for e in store.entries(("queued",))] == ["third", "second", "first"]
    assert runner.runner_pid() is None

    page.table.selectRow(0)
    _click(qtbot, page.remove_button)
    assert [e.label for e in store.entries()] == ["second", "first"]

    page.stop_on_failure.setChecked(True)
    with QueueStore() as other:
        assert other.stop_on_failure


def test_the_window_has_the_queue_and_sweeps_pages_and_ctrl_comma_reaches_settings(window, qtbot):
    from studio.gui.main_window import PAGE_NAMES

    assert PAGE_NAMES.index("Queue") == PAGE_NAMES.index("Monitor") + 1 == PAGE_NAMES.index("Sweeps") - 1
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page_name() == "Settings"
    qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page_name() == "Queue"


@pytest.mark.integration  # starts the queue's runner, which starts a worker
def test_add_to_queue_runs_the_job_in_the_background_and_the_page_follows_it(
        qtbot, state, page, tiny_model_dir, no_runner_left_behind):
    train = TrainPage(state)
    qtbot.addWidget(train)
    train.show()
    state.set_model(inspect_model(tiny_model_dir))
    train.form.set_job_data(tiny_job_dict(tiny_model_dir, steps=2, output={"name": "queued-one"}))
    qtbot.waitUntil(lambda: train.queue_button.isEnabled(), timeout=10_000)
    _click(qtbot, train.queue_button)
    assert "Queued #1 queued-one (1 waiting)" in " ".join(train.file_message.lines())
    qtbot.waitUntil(lambda: runner.runner_pid() is not None or _state(1) != "queued", timeout=20_000)
    page.refresh()
    assert _cells(page, "Job") == ["queued-one"]

    def ended() -> bool:
        page.refresh()
        return _cells(page, "State") == ["done"]

    qtbot.waitUntil(ended, timeout=LONG)
    assert _cells(page, "ETA")[0].startswith("took ")
    assert _cells(page, "Progress") == ["step 2 of 2"]
    with Library() as library:
        assert [e.name for e in library.entries()] == ["queued-one"]
    qtbot.waitUntil(lambda: runner.runner_pid() is None, timeout=20_000)  # idle: it exits


def _state(entry_id: int) -> str:
    with QueueStore() as store:
        return store.get(entry_id).state


def test_the_selection_stays_on_its_entry_when_the_list_changes_under_it(page, store):
    """A selected job that ends moves down the list; the row it left used to stay selected with
    the next job in it, and Cancel then cancelled a job the user never picked."""
    store.set_paused(True, "paused by hand")
    first, second, third = (store.add(tiny_job("tiny-model", output={"name": n})) for n in ("first", "second", "third"))
    page.refresh()
    page.table.selectRow(0)
    assert page.selected_id() == first.id
    store.cancel_waiting(first.id)  # as the runner would end it: it moves below the waiting ones
    page.refresh()
    assert _cells(page, "Job") == ["second", "third", "first"]
    assert page.selected_id() == first.id
    assert [r.row() for r in page.table.selectionModel().selectedRows()] == [2]
    assert not page.cancel_button.isEnabled() and page.retry_button.isEnabled()
    store.remove(first.id)  # gone from the list: nothing selected, rather than its neighbour
    page.refresh()
    assert page.selected_id() is None and not page.table.selectionModel().selectedRows()
    assert not page.cancel_button.isEnabled() and not page.remove_button.isEnabled()
    assert {second.id, third.id} == {e.id for e in store.entries(("queued",))}


def test_one_row_at_a_time_as_the_buttons_act_on_one(page, store):
    store.set_paused(True, "paused by hand")
    for name in ("first", "second"):
        store.add(tiny_job("tiny-model", output={"name": name}))
    page.refresh()
    page.table.selectAll()
    assert len(page.table.selectionModel().selectedRows()) <= 1


def test_retry_and_remove_say_what_they_did_and_that_the_queue_is_paused(page, store, qtbot):
    store.set_paused(True, "#1 failed and the queue stops on a failure")
    entry = store.add(tiny_job("tiny-model", output={"name": "flaky"}))
    store.cancel_waiting(entry.id)
    page.refresh()
    page.select(entry.id)
    _click(qtbot, page.retry_button)
    assert "#1 flaky is queued again" in page.message.text() and "Resume queue starts it" in page.message.text()
    assert runner.runner_pid() is None
    _click(qtbot, page.remove_button)
    assert page.message.text() == "Removed #1 flaky from the list."


def test_a_long_job_label_leaves_the_run_column_its_room(page, store):
    store.set_paused(True, "paused by hand")
    store.add(tiny_job("tiny-model"), label="a job with a label far too long for any column " * 3)
    page.refresh()
    assert page.table.columnWidth(COLUMNS.index("Job")) <= 220
    assert page.table.item(0, COLUMNS.index("Job")).toolTip().startswith("a job with a label")


def _started(store: QueueStore, tmp_path, name: str, **add):
    entry = store.add(tiny_job("tiny-model", output={"name": name}), **add)
    store.mark_starting(entry.id, "cpu", tmp_path / name)
    store.mark_running(entry.id, 12345)
    return entry


def test_a_pruned_trial_reads_pruned_with_its_reason_and_has_no_retry(page, store, tmp_path):
    """Ended as the runner records them: the worker of each said "cancelled by the user"; the sweep's
    driver had asked for one of them to be pruned (tests/worker/test_sweep_pruned_trial.py runs it)."""
    store.set_paused(True, "paused by hand")
    trial = _started(store, tmp_path, "lr trial 2", label="lr trial 2", source="sweep lr trial 2")
    mine = _started(store, tmp_path, "mine")
    reason = "pruned by the sweep at step 4: eval_loss 1.52 above the median of earlier trials at that step, 1.31"
    store.ask_to_end(trial.id, PRUNED, reason)
    for entry in (trial, mine):
        store.mark_ended(entry.id, "cancelled", "cancelled by the user; nothing was saved")
    page.refresh()
    assert _cells(page, "Job") == ["mine", "lr trial 2"]
    assert _cells(page, "State") == ["cancelled", "pruned"]
    assert _cells(page, "Run / note") == ["cancelled by the user; nothing was saved", reason]
    page.select(trial.id)
    assert not page.retry_button.isEnabled() and page.retry_button.toolTip() == NOT_RETRIED
    assert page.remove_button.isEnabled() and not page.cancel_button.isEnabled()
    page.select(mine.id)
    assert page.retry_button.isEnabled() and page.retry_button.toolTip().startswith("Queue a failed, stopped or")
    header = page.table.horizontalHeaderItem(COLUMNS.index("State")).toolTip()
    assert "pruned (a sweep's trial its pruner stopped early" in header


def test_a_reason_is_cut_at_its_end_and_a_run_folder_or_path_in_its_middle(page, store, tmp_path):
    """At 960 px a pruned trial's reason cut in the middle read "pruned by the swee…t that step, 1.31"."""
    store.set_paused(True, "paused by hand")
    trial, running, failed = (_started(store, tmp_path, name) for name in ("trial", "running", "failed"))
    store.ask_to_end(trial.id, PRUNED, "pruned by the sweep at step 4: eval_loss 1.52 above the median of earlier "
                                       "trials at that step, 1.31")
    store.mark_ended(trial.id, "cancelled")
    store.mark_ended(failed.id, "failed", "/tmp/jobs/my-notes.json: file not found")
    page.refresh()
    column = COLUMNS.index("Run / note")
    delegate = page.table.itemDelegateForColumn(column)
    modes = {}
    for row in range(page.table.rowCount()):
        option = QStyleOptionViewItem()
        option.textElideMode = Qt.TextElideMode.ElideMiddle  # the table's own
        delegate.initStyleOption(option, page.table.model().index(row, column))
        modes[page.table.item(row, COLUMNS.index("Job")).text()] = option.textElideMode
    assert modes == {"trial": Qt.TextElideMode.ElideRight, "running": Qt.TextElideMode.ElideMiddle,
                     "failed": Qt.TextElideMode.ElideMiddle}
    assert _cells(page, "Run / note")[0] == "running"  # its run folder's name


def test_the_eta_column_says_time_left_time_taken_or_plainly_that_there_is_no_estimate(page, store, tmp_path):
    store.set_paused(True, "paused by hand")
    running = _started(store, tmp_path, "running")
    store.mark_progress(running.id, 5, 20, 125.0)
    fresh = _started(store, tmp_path, "fresh")
    store.mark_progress(fresh.id, 1, 20, None)  # a step, but too few to tell
    ended = _started(store, tmp_path, "ended")
    store.mark_ended(ended.id, "done")
    with store.transaction() as db:
        db.execute("UPDATE entries SET started_t = ended_t - 190 WHERE id = ?", (ended.id,))
    store.add(tiny_job("tiny-model", output={"name": "waiting"}))
    page.refresh()
    assert _cells(page, "Job") == ["running", "fresh", "waiting", "ended"]
    assert _cells(page, "ETA") == ["2:05 left", "no estimate yet", "no estimate yet", "took 3:10"]
    waiting_tip = page.table.item(2, COLUMNS.index("ETA")).toolTip()
    assert waiting_tip.startswith("Added at ") and "estimate once it has started" in waiting_tip
    header = page.table.horizontalHeaderItem(COLUMNS.index("ETA")).toolTip()
    assert "time left" in header and "time taken" in header and "no estimate" in header
