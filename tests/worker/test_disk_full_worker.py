"""A real worker whose run folder's disk fills while it trains (issue 22): it ends with exit 6 and a
disk_full error event on stdout that names the resume, not with exit 1 and silence. The disk is a
small tmpfs filled to the last byte once training has begun (skipped where none can be mounted)."""

from __future__ import annotations

import pytest
from fault_disks import fill, small_disk
from worker_harness import LiveWorker, tiny_job

from studio.core import protocol

pytestmark = pytest.mark.integration  # starts a worker


def test_a_disk_filling_up_mid_run_ends_it_as_disk_full_with_the_resume_on_stdout(tiny_model_dir, tmp_path):
    with small_disk(tmp_path / "disk", "4m") as disk:
        worker = LiveWorker(tiny_job(tiny_model_dir, training={"max_steps": 100_000}), disk / "run")
        worker.wait_for(lambda event: isinstance(event, protocol.Step))
        fill(disk)  # the events file, checkpoints and log have no room from here on
        code = worker.finish()
        errors = [event for event in worker.events if isinstance(event, protocol.Error)]
        assert code == protocol.EXIT_DISK_FULL, [event.type for event in worker.events[-5:]]
        assert errors and errors[-1].kind == "disk_full", errors
        assert "--resume" in (errors[-1].hint or "") and str(disk / "run") in errors[-1].hint
        steps = [event.step for event in worker.events if isinstance(event, protocol.Step)]
        assert steps and max(steps) < 100_000  # it stopped for the disk, not at its end
