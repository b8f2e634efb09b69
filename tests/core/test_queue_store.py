"""The run queue's store and device rules, without workers (tests/worker/test_queue_runner.py runs them)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tiny_jobs import tiny_job

from studio.core import runs
from studio.core.job_schema import dumps, job_from_dict
from studio.core.queue import devices
from studio.core.queue.store import _SCHEMA, DB_NAME, PRUNED, QueueError, QueueStore, queue_dir


@pytest.fixture
def store(studio_home: Path):
    with QueueStore() as opened:
        yield opened


def _add(store: QueueStore, name: str, **sections):
    return store.add(tiny_job("tiny-model", output={"name": name}, **sections), source="test")


def test_entries_keep_the_order_they_were_added_and_move_changes_it(store):
    ids = [_add(store, name).id for name in ("a", "b", "c", "d")]
    assert [e.label for e in store.entries()] == ["a", "b", "c", "d"]
    store.move(ids[3], 1)
    store.move(ids[0], 99)  # past the end: last
    assert [e.label for e in store.entries(("queued",))] == ["d", "b", "c", "a"]
    store.move(ids[2], 2)
    assert [e.label for e in store.entries(("queued",))] == ["d", "c", "b", "a"]


def test_the_queue_is_the_same_from_another_connection_and_after_reopening(store, studio_home):
    _add(store, "kept")
    with QueueStore() as other:
        assert [e.label for e in other.entries()] == ["kept"]
        assert job_from_dict(other.entries()[0].job_data()).output.name == "kept"


def test_only_one_of_two_claims_of_the_same_entry_wins(store, tmp_path):
    entry = _add(store, "once")
    with QueueStore() as other:
        assert store.mark_starting(entry.id, "cpu", tmp_path / "run-a")
        assert not other.mark_starting(entry.id, "cpu", tmp_path / "run-b")
    assert store.get(entry.id).run_dir == str(tmp_path / "run-a")
    assert store.get(entry.id).attempts == 1


def test_a_started_entry_is_not_removed_or_moved_and_an_ended_one_is_retried_last(store, tmp_path):
    first, second = _add(store, "first"), _add(store, "second")
    store.mark_starting(first.id, "cpu", tmp_path / "run")
    store.mark_running(first.id, 12345)
    with pytest.raises(QueueError, match="cancel it first"):
        store.remove(first.id)
    with pytest.raises(QueueError, match="only waiting entries"):
        store.move(first.id, 1)
    with pytest.raises(QueueError, match="only a failed"):
        store.retry(first.id)
    assert store.mark_ended(first.id, "failed", "it broke")
    assert not store.mark_ended(first.id, "done")  # ended once: a late second verdict changes nothing
    third = _add(store, "third")
    retried = store.retry(first.id)
    assert retried.state == "queued" and "was failed" in retried.message and retried.run_dir == ""
    assert [e.label for e in store.entries(("queued",))] == ["second", "third", "first"]
    assert store.remove(third.id).label == "third"
    assert [e.id for e in store.entries()] == [second.id, first.id]


def test_cancel_waiting_only_cancels_what_has_not_started(store, tmp_path):
    waiting, started = _add(store, "waiting"), _add(store, "started")
    store.mark_starting(started.id, "cpu", tmp_path / "run")
    assert store.cancel_waiting(waiting.id)
    assert not store.cancel_waiting(started.id)
    assert store.get(waiting.id).state == "cancelled"
    assert store.get(started.id).state == "starting"


def test_pause_and_stop_on_failure_are_kept(store):
    assert not store.paused and not store.stop_on_failure
    store.set_paused(True, "by hand")
    store.set_stop_on_failure(True)
    with QueueStore() as other:
        assert other.paused and other.pause_reason() == "by hand" and other.stop_on_failure
    store.set_paused(False)
    assert not store.paused and store.pause_reason() == ""


def test_quick_and_multi_machine_jobs_are_refused_with_why(store):
    merge = job_from_dict({"kind": "merge", "adapters": ["a/v1", "b/v1"], "weights": [0.5, 0.5], "name": "m"})
    with pytest.raises(QueueError, match="quick and runs at once"):
        store.add(merge)
    with pytest.raises(QueueError, match="several machines"):
        store.add(tiny_job("m", distributed={"nnodes": 2, "rdzv_endpoint": "host:29500"}))
    assert store.entries() == []


def test_labels_say_what_the_job_is(store):
    assert store.add(tiny_job("/models/SmolLM2")).label == "SmolLM2 on bundled"
    assert _add(store, "pirate").label == "pirate"
    assert store.add(tiny_job("/models/Qwen2.5-0.5B")).label == "Qwen2.5-0.5B on bundled"
    assert store.add(tiny_job("/models/smol.Q4_1.gguf")).label == "smol.Q4_1 on bundled"


def test_what_a_job_needs_follows_its_device_and_gpus():
    on_auto = _dict(tiny_job("m", training={"device": "auto"}))
    assert devices.need_of(on_auto, ("0", "1")) == devices.Need(any_gpus=1)
    assert devices.need_of(on_auto, ()) == devices.Need(exact=("cpu",))  # no GPU: the CPU
    assert devices.need_of(_dict(tiny_job("m")), ("0",)) == devices.Need(exact=("cpu",))  # device = cpu
    named = _dict(tiny_job("m", training={"device": "auto"}, distributed={"gpus": [2, 3]}))
    assert devices.need_of(named, ("0", "1", "2", "3")) == devices.Need(exact=("2", "3"))


def test_choosing_slots_and_the_environment_a_worker_gets():
    any_gpu, both = devices.Need(any_gpus=1), devices.Need(exact=("0", "1"))
    assert devices.choose(any_gpu, ["1", "cpu"]) == ("1",)
    assert devices.choose(any_gpu, ["cpu"]) is None
    assert devices.choose(both, ["0", "cpu"]) is None
    assert devices.choose(both, ["1", "0"]) == ("0", "1")
    assert devices.worker_environment(any_gpu, ("1",))["CUDA_VISIBLE_DEVICES"] == "1"
    assert devices.worker_environment(both, ("0", "1")) == {}  # torchrun maps named GPUs itself


def test_simulated_gpus_and_runs_started_by_hand_hold_their_slots(studio_home, monkeypatch):
    monkeypatch.setenv(devices.GPUS_ENV, "0,1,2")
    assert devices.all_slots() == ("0", "1", "2", "cpu")
    by_hand = runs.create_run_dir("by-hand")
    (by_hand / runs.JOB_NAME).write_text(json.dumps(_dict(tiny_job("m", training={"device": "auto"}))))
    named = runs.create_run_dir("named")
    (named / runs.JOB_NAME).write_text(json.dumps(_dict(tiny_job("m", training={"device": "auto"}, distributed={"gpus": [2]}))))
    serve = runs.create_run_dir("serve")
    (serve / runs.JOB_NAME).write_text(json.dumps({"kind": "serve"}))
    assert devices.held_by_other_runs(set()) == set()  # nobody holds their locks
    locks = [runs.take_lock(folder) for folder in (by_hand, named, serve)]
    try:
        assert devices.held_by_other_runs(set()) == {"0", "2"}  # the serve worker is not a job
        assert devices.held_by_other_runs({str(named)}) == {"0"}  # the queue's own are counted apart
    finally:
        for lock in locks:
            lock.close()


def test_the_last_step_is_read_from_the_end_of_a_long_events_file(studio_home):
    run = runs.create_run_dir("long")
    with open(run / runs.EVENTS_NAME, "w") as events:
        for step in range(1, 3001):
            events.write(json.dumps({"type": "step", "step": step, "total_steps": 3000}) + "\n")
            events.write(json.dumps({"type": "system", "cpu_percent": 5.0, "note": "x" * 40}) + "\n")
        events.write('{"type": "step", "step": 3001, "tot')  # torn: a worker killed mid-line
    assert runs.last_event(run, "step")["step"] == 3000
    assert runs.last_event(run, "eval") is None
    assert runs.last_event(run / "missing", "step") is None


def _dict(job) -> dict:
    from studio.core.job_schema import to_dict

    return to_dict(job)


def test_a_prune_asked_of_a_started_entry_is_how_it_ends_whoever_sees_it_end(store, tmp_path):
    """The sweep driver asks before the worker hears of it; the runner that records the worker's
    "cancelled" (from another connection: it may have been started since) records pruned instead."""
    trial, mine = _add(store, "trial"), _add(store, "mine")
    for entry in (trial, mine):
        store.mark_starting(entry.id, "cpu", tmp_path / entry.label)
        store.mark_running(entry.id, 12345)
    reason = "pruned by the sweep at step 4: eval_loss 1.52 above the median of earlier trials at that step, 1.31"
    assert store.ask_to_end(trial.id, PRUNED, reason)
    with QueueStore() as runner_store:
        ended = runner_store.mark_ended(trial.id, "cancelled", "cancelled by the user; nothing was saved")
        assert ended is not None and (ended.state, ended.message) == ("pruned", reason)
        mine_ended = runner_store.mark_ended(mine.id, "cancelled", "cancelled by the user; nothing was saved")
        assert mine_ended is not None and mine_ended.state == "cancelled"  # the user's own cancel
    assert not store.ask_to_end(trial.id, PRUNED, reason)  # ended: nothing left to ask
    with pytest.raises(QueueError, match="is not retried: the sweep stopped it") as refused:
        store.retry(trial.id)
    assert str(refused.value).startswith(f"#{trial.id} was pruned by the sweep at step 4")
    assert store.retry(mine.id).state == "queued"
    assert [e.state for e in store.entries()] == ["queued", "pruned"]


def test_a_prune_asked_too_late_leaves_the_real_end(store, tmp_path):
    """The worker saved its result before the cancel came: it is done, whatever was asked."""
    entry = _add(store, "trial")
    store.mark_starting(entry.id, "cpu", tmp_path / "run")
    store.ask_to_end(entry.id, PRUNED, "pruned by the sweep at step 12")
    ended = store.mark_ended(entry.id, "done")
    assert ended is not None and (ended.state, ended.message) == ("done", "")


def test_a_queue_made_before_pruned_entries_opens_and_gains_their_column(studio_home):
    schema = _SCHEMA.replace(",\n    ending TEXT NOT NULL DEFAULT ''", "")
    assert "ending" not in schema
    old = sqlite3.connect(queue_dir() / DB_NAME)
    old.executescript(schema)
    old.execute("INSERT INTO entries (position, label, kind, job, state, added_t) VALUES (1, 'old', 'train', "
                "?, 'done', 0)", (dumps(tiny_job("tiny-model")),))
    old.commit()
    old.close()
    with QueueStore() as store:
        (entry,) = store.entries()
        assert (entry.label, entry.state, entry.ending) == ("old", "done", "")
        assert _add(store, "new").ending == ""
