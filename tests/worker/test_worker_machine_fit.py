"""The worker asks core.machine_fit too, and says how to fix what it refuses.

Issue 21: QLoRA on a machine without a usable GPU failed at once with "4bit quantization needs
a CUDA GPU", its "How to fix it" said to check model.path, and the Log showed a raw traceback.
"""

from __future__ import annotations

import pytest
from worker_harness import LiveWorker, tiny_job

from studio.core import protocol, runs
from studio.core.job_schema import Issue
from studio.core.machine_fit import MACHINE_HINT, MachineError
from studio.worker.errors import classify


def test_a_machine_error_becomes_a_config_error_with_its_own_hint():
    error = classify(MachineError([Issue("model.quantization", "4bit loading needs an NVIDIA GPU")]))
    assert error.kind == "config" and error.hint == MACHINE_HINT and "model.path" not in error.hint
    assert "model.quantization 4bit loading" in error.message


@pytest.mark.integration  # starts a worker
def test_qlora_where_torch_sees_no_gpu_is_refused_before_loading_without_a_traceback(tiny_model_dir, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU for torch, as on a laptop, even on a GPU machine
    job = tiny_job(tiny_model_dir)
    job["model"]["quantization"] = "4bit"
    job["training"]["device"] = "auto"
    run_dir = tmp_path / "run"
    worker = LiveWorker(job, run_dir)
    assert worker.finish() == protocol.EXIT_BAD_JOB
    error = worker.events[-1]
    assert isinstance(error, protocol.Error) and error.kind == "config"
    assert "model.quantization" in error.message and "NVIDIA GPU" in error.message
    assert error.hint == MACHINE_HINT and "model.path" not in error.hint
    assert not any(isinstance(e, protocol.Phase) and e.name == "loading_model" for e in worker.events)
    log = (run_dir / runs.LOG_NAME).read_text(encoding="utf-8")
    assert "job failed (config)" in log and "Traceback" not in log
