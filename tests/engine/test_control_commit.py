"""JobControl's rule for a cancel that exits at once: what the job was writing goes with it,
and once the job has committed its result the cancel is turned down."""

from __future__ import annotations

from studio.engine.control import JobControl


def test_a_cancel_before_the_commit_takes_what_was_being_written(tmp_path):
    stage, output = tmp_path / ".out.staging", tmp_path / "out"
    for folder in (stage, output):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    control = JobControl()
    control.discard_on_cancel(output)
    control.discard_on_cancel(stage)
    assert control.claim_cancel()
    control.discard()
    assert not stage.exists() and not output.exists()


def test_a_cancel_after_the_commit_is_turned_down_and_keeps_the_result(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    control = JobControl()
    control.discard_on_cancel(output)
    control.commit()
    assert not control.claim_cancel()
    assert output.exists()
    assert not control.claim_cancel()  # every later one too
