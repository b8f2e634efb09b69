"""A stopped run resumes from its checkpoint and follows the uninterrupted loss curve."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import Recorder, tiny_job

from studio.core import protocol, runs
from studio.engine.control import JobControl
from studio.engine.training import train


def test_stop_then_resume_matches_an_uninterrupted_run(tiny_model_dir, tmp_path):
    job = tiny_job(tiny_model_dir, training={"max_steps": 10, "save_steps": 0}, dataset={"eval_fraction": 0.0})
    straight = Recorder()
    train(job, tmp_path / "straight", straight, JobControl())

    control = JobControl()
    first = Recorder()

    def emit(event):
        first(event)
        if isinstance(event, protocol.Step) and event.step == 4:
            control.request("stop")

    stopped = train(job, tmp_path / "resumed", emit, control)
    assert stopped.outputs.stopped is True
    assert [e.step for e in first.of(protocol.Step)] == [1, 2, 3, 4]
    assert runs.latest_checkpoint(tmp_path / "resumed").name == "checkpoint-4"
    assert (tmp_path / "resumed" / "adapter" / "adapter_model.safetensors").exists()

    resumed_job = dataclasses.replace(job, training=dataclasses.replace(job.training, resume_from="latest"))
    second = Recorder()
    train(resumed_job, tmp_path / "resumed", second, JobControl())
    assert [e.step for e in second.of(protocol.Step)] == [5, 6, 7, 8, 9, 10]
    assert any("resuming from" in (p.detail or "") for p in second.of(protocol.Phase))
    expected = straight.losses()
    got = first.losses() + second.losses()
    assert got == pytest.approx(expected, rel=1e-3, abs=1e-3)


def test_resume_from_a_torn_checkpoint_is_refused(tiny_model_dir, tmp_path):
    torn = tmp_path / "checkpoints" / "checkpoint-3"
    torn.mkdir(parents=True)
    (torn / "adapter_model.safetensors").write_bytes(b"partial")
    assert runs.latest_checkpoint(tmp_path) is None
    job = tiny_job(tiny_model_dir, training={"resume_from": str(torn)})
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        train(job, tmp_path, Recorder(), JobControl())
