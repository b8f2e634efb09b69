"""A run folder deleted under a live worker is made again, and the run's end is on record (issue 22).

It used to go on training into folders the Trainer re-created, with no job.json, events,
lock or socket: `runs` said the worker died of a run that then landed in the library.
"""

from __future__ import annotations

import shutil

import pytest
from worker_harness import LiveWorker, tiny_job

from studio.core import control_client, protocol, runs

pytestmark = pytest.mark.integration  # a real worker


def test_a_deleted_run_folder_is_made_again_and_the_run_ends_on_record(tiny_model_dir, tmp_path):
    run_dir = tmp_path / "runs" / "20260101-000000-deleted"
    worker = LiveWorker(tiny_job(tiny_model_dir), run_dir)
    try:
        worker.wait_for(lambda e: isinstance(e, protocol.Step))
        shutil.rmtree(run_dir)
        warned = worker.wait_for(lambda e: isinstance(e, protocol.Warning) and "was deleted" in e.message)
        assert "made again" in warned.message
        assert (run_dir / runs.JOB_NAME).is_file() and runs.is_locked(run_dir)
        assert runs.summarize(run_dir).status == "running"
        # the control socket listens again: stop through it, as `lora-studio stop` does
        assert control_client.send_command(run_dir, "stop") == {"ok": True, "cmd": "stop"}
        done = worker.wait_for(lambda e: isinstance(e, protocol.Done))
        assert worker.finish() == protocol.EXIT_OK and done.outputs["stopped"] is True
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()
    summary = runs.summarize(run_dir)
    assert summary.status == "stopped", summary
    # The new events file: the warning, then the end (the system monitor's samples, from their own thread,
    # may be written around the warning: the one that found the folder gone can come first)
    kinds = [e["type"] for e in runs.read_events(run_dir) if e["type"] != "system"]
    assert kinds[0] == "warning" and kinds[-1] == "done"
    assert (run_dir / runs.ADAPTER_NAME / "adapter_model.safetensors").is_file()
