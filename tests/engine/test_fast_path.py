"""The fast path's choices, and its clean fallbacks where there is no CUDA or no liger."""

from __future__ import annotations

import pytest

from studio.core.jobs import TrainJob
from studio.engine import fast_path
from studio.engine.hardware import Hardware

GPU, CPU = Hardware("cuda", "bf16"), Hardware("cpu", "fp32")


def job(**training) -> TrainJob:
    result = TrainJob()
    for name, value in training.items():
        setattr(result.training, name, value)
    return result


def test_cpu_keeps_the_plain_path():
    path = fast_path.choose(job(), CPU, "llama", [10, 500, 30, 40])
    assert path == fast_path.FastPath(packing=False, liger=False, fused_adamw=False, tf32=False)
    assert fast_path.choose(job(packing=True), CPU, "llama").packing  # the user's choice still counts


def test_gpu_packs_only_wasteful_batches_and_fuses(monkeypatch):
    monkeypatch.setattr(fast_path, "liger_installed", lambda: True)
    variable = fast_path.choose(job(batch_size=4), GPU, "llama", [50, 600, 80, 2048, 120, 90, 300, 64])
    assert variable.packing and not variable.liger and variable.fused_adamw and variable.tf32  # measured faster
    fixed = fast_path.choose(job(batch_size=4), GPU, "llama", [2048] * 8)
    assert not fixed.packing and fixed.liger
    assert "padding-free" in variable.describe() and "liger on" in fixed.describe()


def test_no_liger_installed_or_unknown_family_or_switched_off(monkeypatch):
    monkeypatch.setattr(fast_path, "liger_installed", lambda: False)
    assert not fast_path.choose(job(), GPU, "llama").liger
    monkeypatch.setattr(fast_path, "liger_installed", lambda: True)
    assert not fast_path.choose(job(), GPU, "gpt2").liger
    off = fast_path.choose(job(fast_path=False), GPU, "llama", [10, 900])
    assert off == fast_path.FastPath(packing=False, liger=False, fused_adamw=False, tf32=False)
    assert not fast_path.choose(job(optimizer="paged_adamw_8bit"), GPU, "llama").fused_adamw


@pytest.mark.parametrize(("lengths", "share"), [([100, 100], 0.0), ([100, 300], 1 / 3), ([], 0.0)])
def test_padding_share(lengths, share):
    assert fast_path.padding_share(lengths, 2) == pytest.approx(share)


def test_the_engine_reports_its_path_on_cpu(tiny_model_dir, tmp_path):
    from helpers import Recorder, tiny_job

    from studio.core import protocol
    from studio.engine.control import JobControl
    from studio.engine.training import train

    rec = Recorder()
    train(tiny_job(tiny_model_dir, training={"max_steps": 1}), tmp_path / "run", rec, JobControl())
    details = [e.detail for e in rec.of(protocol.Phase) if e.detail and e.detail.startswith("fast path")]
    assert details == ["fast path: packing off (padded batches), liger off, optimizer as set, tf32 off"]


def test_compile_is_opt_in_and_replaces_liger(monkeypatch):
    monkeypatch.setattr(fast_path, "liger_installed", lambda: True)
    assert not fast_path.choose(job(), GPU, "llama").compile
    compiled = fast_path.choose(job(compile=True), GPU, "llama")
    assert compiled.compile and not compiled.liger and "torch.compile" in compiled.describe()
    assert not fast_path.choose(job(compile=True), CPU, "llama").compile


def test_random_llama_has_the_shape_it_is_given():
    from studio.core.presets import count_lora_parameters
    from studio.engine.random_model import random_llama

    shape = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128, "tie_word_embeddings": False}
    model = random_llama(shape, device="cpu")
    assert model.config.num_hidden_layers == 2 and model.lm_head.weight.shape == (128, 64)
    assert count_lora_parameters(shape, ["auto"], 4) > 0
