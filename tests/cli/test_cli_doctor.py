"""``lora-studio doctor``: every check of this machine, with a fix for each problem."""

from __future__ import annotations

import json

import pytest
from cli_support import run_cli

from studio.core import doctor, gpus


@pytest.mark.integration  # runs lora-studio in a subprocess
def test_doctor_on_this_machine_reports_every_check():
    result = run_cli("doctor", "--json")
    assert result.returncode == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    for name in ("Python", "torch", "NVIDIA driver", "bitsandbytes", "liger-kernel", "flash-attn", "TensorBoard",
                 "MLflow", "Weights & Biases", "Trackio", "Disk", "Bundled model"):
        assert name in checks, name
    assert checks["Python"]["status"] == "ok" and checks["Bundled model"]["status"] == "ok"
    assert checks["torch"]["status"] == "ok" and checks["torch"]["detail"].split(" ")[0].startswith("2.")
    if not gpus.visible_gpus():  # CI and this machine: no driver, said plainly, nothing failed
        assert checks["NVIDIA driver"]["status"] == "info" and "CPU" in checks["NVIDIA driver"]["detail"]
    table = run_cli("doctor")
    assert "system check" in table.stdout and "Bundled model" in table.stdout


def test_torch_problems_come_with_their_fix():
    missing = doctor._torch(None, ())
    assert missing.status == doctor.FAIL and "install_torch.sh" in missing.fix
    card = gpus.Gpu(0, "NVIDIA H100 80GB HBM3", 80 * 2**30)
    cpu_build = doctor._torch({"version": "2.13.0+cpu", "cuda_build": None, "cuda": False, "devices": [],
                               "bf16": False}, (card,))
    assert cpu_build.status == doctor.FAIL and "does not see the 1 NVIDIA GPU" in cpu_build.detail
    assert "install the CUDA build" in cpu_build.fix
    mismatch = doctor._torch({"version": "2.11.0", "cuda_build": "13.0", "cuda": False, "devices": [],
                              "bf16": False}, (card,))
    assert "driver" in mismatch.fix
    seen = doctor._torch({"version": "2.11.0", "cuda_build": "13.0", "cuda": True,
                          "devices": [{"name": "H100"}], "bf16": True}, (card,))
    assert seen.status == doctor.OK and "sees 1 GPU(s), bf16 yes" in seen.detail


def test_missing_optional_kernels_warn_only_with_a_gpu():
    assert doctor._optional("no-such-package-xyz", "a feature", wanted=True).status == doctor.WARN
    assert doctor._optional("no-such-package-xyz", "a feature", wanted=False).status == doctor.INFO
    assert doctor.worst([doctor.Check("a", doctor.OK, ""), doctor.Check("b", doctor.WARN, "")]) == doctor.WARN


def test_each_tracker_is_named_with_how_to_install_it(monkeypatch, studio_home):
    from studio.core import trackers

    monkeypatch.setattr(trackers, "installed", lambda name: name == "mlflow")
    missing = doctor._tracker(trackers.TRACKERS["wandb"])
    assert missing.status == doctor.INFO and missing.name == "Weights & Biases"
    assert "lora-studio[trackers]" in missing.fix and "pip install wandb" in missing.fix
    there = doctor._tracker(trackers.TRACKERS["mlflow"])
    assert there.status == doctor.OK and str(studio_home / "mlruns") in there.detail
