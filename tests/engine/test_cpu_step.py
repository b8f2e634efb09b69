"""The CPU's step (engine.fast_path on the CPU: rows apart, the loss from the labelled positions
alone) trains what the plain batched step trains: the same losses and gradient norms, step by
step, from the same rows."""

from __future__ import annotations

import pytest
from helpers import Recorder, tiny_job

from studio.core import protocol
from studio.engine.control import JobControl


def steps(tiny_model_dir, run_dir, fast_path: bool) -> tuple[list[protocol.Step], str]:
    from studio.engine.training import train

    rec = Recorder()
    # Rows of varied lengths: padded batches of 4 waste far more than 10%, so the CPU takes them apart.
    job = tiny_job(tiny_model_dir, steps=3, training={"fast_path": fast_path, "max_length": 160})
    train(job, run_dir, rec, JobControl())
    detail = next(e.detail for e in rec.of(protocol.Phase) if e.detail and e.detail.startswith("fast path"))
    return rec.of(protocol.Step), detail


def test_rows_apart_train_what_the_batch_trains(tiny_model_dir, tmp_path):
    apart, said = steps(tiny_model_dir, tmp_path / "apart", fast_path=True)
    batched, plain = steps(tiny_model_dir, tmp_path / "batched", fast_path=False)
    assert "one row a micro-batch" in said and "labelled positions alone" in said
    assert "padded batches" in plain and "labelled" not in plain
    assert [s.step for s in apart] == [s.step for s in batched] == [1, 2, 3]
    for ours, theirs in zip(apart, batched, strict=True):
        # A loss divided per row, or a step that took other rows, would show here at once;
        # the gradient norm catches a wrong scale, which Adam's update would hide.
        assert ours.loss == pytest.approx(theirs.loss, rel=2e-4), (ours, theirs)
        assert ours.grad_norm == pytest.approx(theirs.grad_norm, rel=2e-3), (ours, theirs)
