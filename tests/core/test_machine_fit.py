"""Settings this machine can't run are refused when chosen (core.machine_fit), not by the worker."""

from __future__ import annotations

import pytest

from studio.core import gpus
from studio.core.job_schema import JobError
from studio.core.jobs import TrainJob
from studio.core.machine_fit import (
    GpuFacts,
    MachineError,
    bitsandbytes_refusal,
    gpu_facts,
    machine_issues,
    refused_choices,
)

H200 = gpus.Gpu(0, "NVIDIA H200", 143_771_000_000)


def job(device: str = "auto", quantization: str = "none", optimizer: str = "adamw_torch") -> TrainJob:
    made = TrainJob()
    made.training.device, made.model.quantization, made.training.optimizer = device, quantization, optimizer
    return made


@pytest.mark.parametrize(("settings", "field"), [
    ({"quantization": "4bit"}, "model.quantization"),
    ({"quantization": "8bit"}, "model.quantization"),
    ({"optimizer": "paged_adamw_8bit"}, "training.optimizer"),
])
def test_bitsandbytes_settings_on_a_machine_without_a_gpu_are_refused_naming_the_field(settings, field):
    (issue,) = machine_issues(job(**settings), ())
    assert issue.field == field and "this machine has none" in issue.message and "plain LoRA" in issue.message
    assert machine_issues(job(**settings), (H200,), bitsandbytes=True) == []  # the same job where a GPU answers
    (missing,) = machine_issues(job(**settings), (H200,), bitsandbytes=False)  # ... but without the gpu extra
    assert missing.field == field and "bitsandbytes, which is not installed" in missing.message


def test_a_cuda_job_without_a_gpu_is_refused_and_plain_lora_is_not():
    (issue,) = machine_issues(job(device="cuda"), ())
    assert issue.field == "training.device" and "no NVIDIA GPU" in issue.message
    assert machine_issues(job(), ()) == []  # auto on the CPU: fine
    assert machine_issues(job(device="cpu", quantization="4bit"), ()) == []  # job_schema's to refuse


def test_refused_choices_are_those_machine_issues_refuses():
    """The Train page disables exactly these entries (the same rule as the CLI and the worker)."""
    refused = refused_choices("auto", ())
    assert set(refused["model.quantization"]) == {"4bit", "8bit"}
    assert set(refused["training.optimizer"]) == {"adamw_8bit", "paged_adamw_8bit"}
    assert all("this machine has none" in why for why in refused["model.quantization"].values())
    assert refused_choices("auto", (H200,), bitsandbytes=True) == {}
    assert set(refused_choices("auto", (H200,), bitsandbytes=False)["model.quantization"]) == {"4bit", "8bit"}
    assert refused_choices("cpu", ()) == {}  # job_schema refuses those, with its own words


def test_a_machine_error_says_what_to_change_not_model_path():
    error = MachineError(machine_issues(job(quantization="4bit"), ()))
    assert isinstance(error, JobError) and "model.quantization" in str(error)
    assert "model.path" not in error.hint and "without quantization" in error.hint and "doctor" in error.hint


def test_compile_on_is_refused_where_the_run_goes_to_the_cpu():
    from studio.core.job_schema import validate

    job = TrainJob()
    job.training.compile = "on"
    assert [i.field for i in machine_issues(job, [])] == ["training.compile"]
    job.training.device = "cpu"  # job_schema's to refuse, as for quantization
    assert [i.field for i in validate(job)] == ["training.compile"]
    job.training.device = "auto"
    assert machine_issues(job, ["gpu0"], bitsandbytes=True) == []  # a GPU compiles
    assert "on" in refused_choices("auto", [])["training.compile"]
    assert "training.compile" not in refused_choices("auto", ["gpu0"], bitsandbytes=True)
    assert "Compile" in MachineError(machine_issues(job, [])).hint
    job.model.quantization = "4bit"  # both said, not only the first
    assert {i.field for i in machine_issues(job, [])} == {"training.compile", "model.quantization"}


# GPUs as the worker's engine.hardware.devices() lists them: each carries its capability.
P100 = {"type": "cuda", "index": 0, "name": "Tesla P100-PCIE-16GB", "memory_bytes": 16 * 2**30, "capability": "6.0"}
V100 = {"type": "cuda", "index": 0, "name": "Tesla V100-SXM2-16GB", "memory_bytes": 16 * 2**30, "capability": "7.0"}


@pytest.mark.parametrize(("settings", "field"), [
    ({"quantization": "4bit"}, "model.quantization"),
    ({"quantization": "8bit"}, "model.quantization"),
    ({"optimizer": "adamw_8bit"}, "training.optimizer"),
])
def test_bitsandbytes_on_a_gpu_older_than_volta_is_refused_naming_the_card_and_its_capability(settings, field):
    """Installed is not enough: QLoRA was offered on a Pascal card, where bitsandbytes does not run."""
    (issue,) = machine_issues(job(**settings), [P100], bitsandbytes=True)
    assert issue.field == field
    assert "GPU 0 (Tesla P100-PCIE-16GB) has compute capability 6.0" in issue.message and "7.0" in issue.message
    assert machine_issues(job(**settings), [V100], bitsandbytes=True) == []  # Volta: offered
    assert machine_issues(job(), [P100], bitsandbytes=True) == []  # plain LoRA runs on the old card
    refused = refused_choices("auto", [P100], bitsandbytes=True)
    assert set(refused["model.quantization"]) == {"4bit", "8bit"}
    assert "Tesla P100" in refused["training.optimizer"]["paged_adamw_8bit"]


@pytest.mark.parametrize(("capability", "name", "refused"), [
    ("3.7", "Tesla K80", True), ("6.1", "NVIDIA GeForce GTX 1080", True), ("7.0", "Tesla V100", False),
    ("7.5", "Tesla T4", False), ("9.0", "NVIDIA H200", False), ("12.0", "NVIDIA RTX PRO 6000", False),
    (None, "an unknown card", False),  # unknown: the worker finds out, as before
])
def test_bitsandbytes_refusal_reads_the_capability_as_numbers(capability, name, refused):
    why = bitsandbytes_refusal(GpuFacts(1, name, capability))
    assert (why is not None) == refused
    if why:
        assert why.startswith(f"GPU 1 ({name}) has compute capability {capability}")


def test_the_rule_asks_of_the_gpus_the_run_trains_on():
    """The first card, or those of distributed.gpus in the driver's list; the worker's list is already
    the chosen ones (its CUDA_VISIBLE_DEVICES holds them), so every card of it trains."""
    old, new = GpuFacts(0, "Tesla P100", "6.0"), GpuFacts(1, "NVIDIA H200", "9.0")
    quantized = job(quantization="4bit")
    assert "Tesla P100" in machine_issues(quantized, [old, new], bitsandbytes=True)[0].message  # the first
    assert machine_issues(quantized, [new, old], bitsandbytes=True) == []
    quantized.distributed.gpus = [1]
    assert machine_issues(quantized, [old, new], bitsandbytes=True) == []  # the H200 only
    quantized.distributed.gpus = [0, 1]
    assert "Tesla P100" in machine_issues(quantized, [old, new], bitsandbytes=True)[0].message
    workers = [{"type": "cuda", "index": i, "name": f.name, "capability": f.capability} for i, f in enumerate((new, old))]
    assert "GPU 1 (Tesla P100)" in machine_issues(job(quantization="4bit"), workers, bitsandbytes=True)[0].message
    assert gpu_facts(workers[0]) == GpuFacts(0, "NVIDIA H200", "9.0")


def test_an_old_card_is_refused_before_bitsandbytes_is_asked_for():
    """Installing the gpu extra would not help there: the card is what to change."""
    (issue,) = machine_issues(job(quantization="4bit"), [P100], bitsandbytes=False)
    assert "compute capability 6.0" in issue.message and "not installed" not in issue.message
