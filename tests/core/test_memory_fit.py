"""Will it fit where it runs (core.memory_fit): the card for a GPU run, the available RAM for a CPU run.

Issue 21: an estimate of 318 GiB against an 8 GB card still said "Ready to train", and on a
CPU-only machine nothing was held against the RAM at all.
"""

from __future__ import annotations

import pytest

from studio.core import gpus, launch_plan, memory_fit, vram
from studio.core.jobs import TrainJob
from studio.core.models import inspect_model, model_source
from studio.core.reference_shapes import MODEL_SHAPES

GIB = vram.GIB
RTX_4060 = gpus.Gpu(0, "NVIDIA GeForce RTX 4060", 8 * GIB)
H200 = gpus.Gpu(1, "NVIDIA H200", 143_771_000_000)


@pytest.fixture(scope="module")
def bundled():
    return inspect_model(model_source("bundled"))


def big_dora() -> TrainJob:
    job = TrainJob()
    job.lora.use_dora = True
    job.training.batch_size, job.training.max_length = 64, 2048
    return job


def test_318_gib_against_an_8_gb_card_will_not_fit_and_says_what_to_change(bundled):
    job = big_dora()
    target = memory_fit.target_for(job, (RTX_4060,))
    assert target == memory_fit.Target("gpu", 8 * GIB, "the NVIDIA GeForce RTX 4060")
    fit = memory_fit.check(job, bundled.config, target, num_parameters=bundled.num_parameters)
    panel, _ = launch_plan.per_gpu_estimate(job, bundled.config, bundled.num_parameters, 8 * GIB)
    assert not fit.fits and fit.needed == panel.total and 318 * GIB < fit.needed < 319 * GIB
    said = fit.problem()
    assert said.startswith("Will not fit: this job needs about 318.") and "8.0 GiB" in said
    assert "131,072 tokens" in said and "Try: " in said and fit.fixes
    assert all(f.needed <= vram.budget_bytes(job, 8 * GIB) for f in fit.fixes)  # every fix within the margin
    job.training.batch_size = 1
    assert memory_fit.check(job, bundled.config, target, num_parameters=bundled.num_parameters).fits


def test_a_gpu_run_is_held_against_the_card_it_names_or_the_one_chosen():
    job = TrainJob()
    job.distributed.gpus = [1]
    assert memory_fit.target_for(job, (RTX_4060, H200)).capacity == H200.total_bytes
    chosen = memory_fit.target_for(job, (RTX_4060, H200), card=(16 * GIB, "the 16 GB card"))
    assert chosen == memory_fit.Target("gpu", 16 * GIB, "the 16 GB card")


def test_a_cpu_run_is_held_against_the_available_ram(bundled, monkeypatch):
    monkeypatch.setattr(memory_fit, "available_ram", lambda: (2 * GIB, 8 * GIB))
    job = TrainJob()
    assert not memory_fit.runs_on_gpu(job, ())
    target = memory_fit.target_for(job, ())  # auto with no GPU: the CPU
    assert target == memory_fit.Target("cpu", 2 * GIB, "this machine's RAM", 8 * GIB)
    fit = memory_fit.check(job, bundled.config, target, num_parameters=bundled.num_parameters)
    assert not fit.fits and not fit.blocks  # over what is free now, under all the RAM: a warning
    said = fit.problem()
    assert said.startswith("May not fit: training on the CPU needs about") and "2.0 GiB available of 8.0 GiB" in said
    small = memory_fit.Target("cpu", 2 * GIB, "this machine's RAM", 4 * GIB)
    over = memory_fit.check(job, bundled.config, small, num_parameters=bundled.num_parameters)
    assert over.blocks and over.problem().startswith("Will not fit")
    # On the CPU bitsandbytes can't help: no QLoRA or 8-bit optimizer among the fixes.
    assert fit.fixes and not any({"model.quantization", "training.optimizer"} & set(f.edits) for f in fit.fixes)
    assert "QLoRA" not in said
    # fp32 (precision auto on the CPU), without the CUDA context and allocator of a GPU run.
    fp32 = TrainJob()
    fp32.training.precision = "fp32"
    gpu_parts = vram.estimate(fp32, bundled.config, num_parameters=bundled.num_parameters)
    assert fit.needed == gpu_parts.total - sum(gpu_parts.part(k).bytes for k in ("context", "allocator"))


def test_a_cpu_run_counts_its_largest_batch_from_the_rows_lengths(bundled):
    job = TrainJob()
    target = memory_fit.Target("cpu", 4 * GIB, "this machine's RAM")
    worst = memory_fit.check(job, bundled.config, target, num_parameters=bundled.num_parameters)
    short = memory_fit.check(job, bundled.config, target, num_parameters=bundled.num_parameters, longest_row=200)
    assert worst.tokens == 4 * 512 and short.tokens == 4 * 200 and short.needed < worst.needed
    assert not worst.fits and short.fits
    job.training.packing = True  # packed batches are full whatever the rows
    packed = memory_fit.check(job, bundled.config, target, num_parameters=bundled.num_parameters, longest_row=200)
    assert packed.tokens == 4 * 512
    job.training.packing = False
    job.distributed.cpu_processes = 2  # each process holds its own copy
    twice = memory_fit.check(job, bundled.config, target, num_parameters=bundled.num_parameters, longest_row=200)
    assert twice.needed == 2 * short.needed


def test_an_unknown_architecture_is_no_verdict():
    config = {**MODEL_SHAPES["llama-3.2-1b"], "model_type": "someday_net"}
    with pytest.raises(vram.EstimateError):
        memory_fit.check(TrainJob(), config, memory_fit.Target("gpu", 8 * GIB, "x"))
