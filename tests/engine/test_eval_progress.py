"""Every evaluation says how far it is, and a stop says so at once (issue 21: after Stop, a 71 s
final evaluation showed a bar frozen at 73%, and the window could not tell it from training)."""

from __future__ import annotations

from helpers import Recorder, tiny_job

from studio.core import protocol
from studio.engine.callbacks import EVAL_PROGRESS_EVENTS
from studio.engine.control import JobControl
from studio.engine.training import train


def phases_after(rec: Recorder, first: protocol.Event) -> list[protocol.Phase]:
    start = rec.events.index(first)
    return [e for e in rec.events[start:] if isinstance(e, protocol.Phase)]


def test_a_stopped_runs_final_evaluation_counts_its_batches(tiny_model_dir, tmp_path):
    control, rec = JobControl(), Recorder()

    def emit(event):
        rec(event)
        if isinstance(event, protocol.Step) and event.step == 3:
            control.request("stop")

    # 24 held-out rows, all evaluated in batches of 4: six batches.
    job = tiny_job(tiny_model_dir, 40, dataset={"eval_fraction": 0.5, "eval_max_rows": 0})
    outputs = train(job, tmp_path, emit, control).outputs
    assert outputs.stopped and outputs.metrics.eval_loss is not None
    stopping = next(e for e in rec.of(protocol.Phase) if e.name == "stopping")
    assert (stopping.done, stopping.total) == (3, 40) and stopping.detail
    after = phases_after(rec, stopping)
    names = [p.name for p in after]
    assert "training" not in names and "paused" not in names  # nothing says it trains on
    counts = [(p.done, p.total) for p in after if p.name == "evaluating" and p.total]
    assert counts == [(n, 6) for n in range(1, 7)], counts
    assert names.index("saving") > max(i for i, n in enumerate(names) if n == "evaluating")
    assert max(s.step for s in rec.of(protocol.Step)) == 3


def test_a_periodic_evaluation_counts_a_few_times_then_hands_back_to_training(tiny_model_dir, tmp_path):
    rec = Recorder()
    # 24 held-out rows one at a time: more batches than progress events are sent.
    job = tiny_job(tiny_model_dir, 4, dataset={"eval_fraction": 0.5, "eval_max_rows": 0},
                   training={"batch_size": 1, "eval_steps": 2})
    train(job, tmp_path, rec, JobControl())
    phases = rec.of(protocol.Phase)
    counts = [p.done for p in phases if p.name == "evaluating" and p.total]
    passes = [counts[i:] for i, done in enumerate(counts) if done == 1]
    assert len(passes) == 2  # after steps 2 and 4 (the final one reuses step 4's)
    first = counts[: counts.index(1, 1)]
    assert first[0] == 1 and first[-1] == 24 and first == sorted(first)
    assert len(first) <= EVAL_PROGRESS_EVENTS + 1 < 24  # a live bar, not an event per batch
    # After the eval at step 2, training is said again before step 3's event.
    eval_at_2 = next(e for e in rec.of(protocol.Eval) if e.step == 2)
    later = rec.events[rec.events.index(eval_at_2):]
    back = next(i for i, e in enumerate(later) if isinstance(e, protocol.Phase))
    assert later[back].name == "training" and later[back].done == 2
    assert back < next(i for i, e in enumerate(later) if isinstance(e, protocol.Step))
