"""The fast path's choices, and its clean fallbacks where there is no CUDA or no liger."""

from __future__ import annotations

import pytest

from studio.core import compile_choice, methods
from studio.core.jobs import TrainJob
from studio.engine import fast_path
from studio.engine.hardware import Hardware

GPU, CPU = Hardware("cuda", "bf16"), Hardware("cpu", "fp32")


def job(**training) -> TrainJob:
    result = TrainJob()
    for name, value in training.items():
        setattr(result.training, name, value)
    return result


def test_cpu_takes_rows_apart_and_computes_the_loss_where_labels_count():
    path = fast_path.choose(job(), CPU, "llama", [10, 500, 30, 40])
    assert path == fast_path.FastPath(packing=False, liger=False, fused_adamw=False, tf32=False, rows_apart=True,
                                      output_loss=True, compact_dropout=True)
    assert "one row a micro-batch" in path.describe() and "labelled positions alone" in path.describe()
    even = fast_path.choose(job(), CPU, "llama", [500, 500, 490, 500])
    assert not even.rows_apart and even.output_loss  # rows of one length waste no padding batched
    assert fast_path.choose(job(), CPU, "opt", [10, 500, 30, 40]).rows_apart  # no packing: nothing mixes
    assert not fast_path.choose(job(batch_size=1), CPU, "llama", [10, 500]).rows_apart
    packed = fast_path.choose(job(packing=True), CPU, "llama", [10, 500, 30, 40])
    assert packed.packing and not packed.rows_apart  # the user's choice counts


def test_cpu_keeps_the_plain_path_when_switched_off_or_across_processes():
    plain = fast_path.FastPath(packing=False, liger=False, fused_adamw=False, tf32=False)
    assert fast_path.choose(job(fast_path=False), CPU, "llama", [10, 500, 30, 40]) == plain
    assert fast_path.choose(job(), CPU, "llama", [10, 500, 30, 40], processes=2) == plain
    assert fast_path.choose(job(packing=True, fast_path=False), CPU, "llama").packing  # the user's choice still counts


def test_gpu_packs_only_wasteful_batches_and_fuses(monkeypatch):
    monkeypatch.setattr(fast_path, "liger_installed", lambda: True)
    monkeypatch.setattr(fast_path, "triton_installed", lambda: True)
    variable = fast_path.choose(job(batch_size=4), GPU, "llama", [50, 600, 80, 2048, 120, 90, 300, 64])
    assert variable.packing and not variable.liger and variable.fused_adamw and variable.tf32  # measured faster
    fixed = fast_path.choose(job(batch_size=4), GPU, "llama", [2048] * 8)
    assert not fixed.packing and fixed.liger and fixed.compile
    assert "padding-free" in variable.describe() and "liger fused loss only" in fixed.describe()


def test_packed_rows_attend_by_their_boundaries_where_the_flash_kernel_runs(monkeypatch):
    wasteful = [50, 600, 80, 2048, 120, 90, 300, 64]
    monkeypatch.setattr(fast_path.varlen_attention, "available", lambda: True)
    variable = fast_path.choose(job(batch_size=4), GPU, "llama", wasteful)
    assert variable.attention == "varlen" and "flash varlen" in variable.describe()
    assert fast_path.choose(job(batch_size=4), GPU, "llama", [2048] * 8).attention == "sdpa"  # not packed
    assert fast_path.choose(job(packing=True), CPU, "llama").attention == "sdpa"
    monkeypatch.setattr(fast_path.varlen_attention, "available", lambda: False)  # torch < 2.9, pre-Ampere
    older = fast_path.choose(job(batch_size=4), GPU, "llama", wasteful)
    assert older.packing and older.attention == "sdpa" and "SDPA, a per-example mask" in older.describe()


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
    # The tiny job's rows vary in length (taken apart) and its LoRA has no dropout (nothing to swap).
    assert details == ["fast path: packing off (one row a micro-batch, accumulated: no padding), attention SDPA, "
                       "liger off, optimizer as set, tf32 off, loss from the labelled positions alone (no full "
                       "logits)"]


def dora() -> TrainJob:
    result = job()
    result.lora.use_dora = True
    return result


def quantized(kind: str) -> TrainJob:
    result = job()
    result.model.quantization = kind
    return result


def test_compile_is_automatic_where_it_was_measured_faster(monkeypatch):
    monkeypatch.setattr(fast_path, "liger_installed", lambda: True)
    monkeypatch.setattr(fast_path, "_bitsandbytes_at_least", lambda major, minor: True)
    monkeypatch.setattr(fast_path, "triton_installed", lambda: True)
    assert fast_path.choose(job(), GPU, "llama", [512] * 8).compile  # padded bf16
    assert not fast_path.choose(job(), Hardware("cuda", "fp16"), "llama", [512] * 8).compile  # not measured
    assert fast_path.choose(job(), GPU, "llama", [50, 900, 70, 30]).compile  # packed bf16
    assert fast_path.choose(quantized("4bit"), GPU, "llama").compile
    for unmeasured in (dora(), quantized("8bit")):
        assert not fast_path.choose(unmeasured, GPU, "llama").compile
    assert not fast_path.choose(job(), GPU, "llama", sharded=True, processes=2).compile
    assert not fast_path.choose(job(), GPU, "llama", processes=2).compile  # DDP: not measured yet
    assert not fast_path.choose(job(compile="off"), GPU, "llama").compile
    forced = dora()
    forced.training.compile = "on"
    assert fast_path.choose(forced, GPU, "llama").compile
    assert not fast_path.choose(job(compile="on"), CPU, "llama").compile
    assert not fast_path.choose(job(gradient_checkpointing=True, offload_activations=True), GPU, "llama").compile
    monkeypatch.setattr(fast_path, "_bitsandbytes_at_least", lambda major, minor: False)  # older bitsandbytes
    assert not fast_path.choose(quantized("4bit"), GPU, "llama").compile
    monkeypatch.setattr(fast_path, "triton_installed", lambda: False)
    assert not fast_path.choose(job(), GPU, "llama").compile


def test_compiled_layers_take_only_ligers_fused_loss(monkeypatch):
    monkeypatch.setattr(fast_path, "liger_installed", lambda: True)
    monkeypatch.setattr(fast_path, "triton_installed", lambda: True)
    compiled = fast_path.choose(job(), GPU, "llama", [512] * 8)
    assert compiled.liger_config() == {"fused_linear_cross_entropy": True, "cross_entropy": False,
                                       "rms_norm": False, "rope": False, "swiglu": False, "geglu": False}
    eager = fast_path.choose(job(compile="off"), GPU, "llama", [512] * 8)
    assert eager.liger_config()["rms_norm"] and eager.liger_config()["fused_linear_cross_entropy"]
    assert "liger on" in eager.describe() and "torch.compile" not in eager.describe()


def test_bitsandbytes_version_check_without_bitsandbytes():
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        assert not fast_path._bitsandbytes_at_least(0, 50)
    assert not fast_path._bitsandbytes_at_least(999, 0)


def eight_b() -> dict:
    from studio.core.reference_shapes import MODEL_SHAPES

    return MODEL_SHAPES["llama-3.1-8b"]


def test_checkpointing_is_planned_per_layer_against_the_memory_limit(monkeypatch):
    monkeypatch.setattr(fast_path, "liger_installed", lambda: True)
    monkeypatch.setattr(fast_path, "triton_installed", lambda: True)
    tight = job(gradient_checkpointing=True, batch_size=4, max_length=2048, memory_limit_gib=34.85)
    path = fast_path.choose(tight, GPU, "llama", [2048] * 8)
    planned = fast_path.plan_checkpointing(path, tight, eight_b(), None, GPU)
    assert 0 < planned.checkpointed < 32 and planned.layers == 32
    assert f"checkpointing {planned.checkpointed} of 32 layers to stay within 34.8 GiB" in planned.describe()
    roomy = job(gradient_checkpointing=True, batch_size=4, max_length=2048, memory_limit_gib=120)
    assert fast_path.plan_checkpointing(path, roomy, eight_b(), None, GPU).checkpointed == 0
    # Elsewhere every layer is checkpointed, as the job says.
    assert fast_path.plan_checkpointing(path, tight, eight_b(), None, CPU).checkpointed is None
    assert fast_path.plan_checkpointing(path, tight, eight_b(), None, GPU, sharded=True).checkpointed is None
    plain = job(gradient_checkpointing=False, memory_limit_gib=34.85)
    assert fast_path.plan_checkpointing(path, plain, eight_b(), None, GPU).checkpointed is None
    off = job(gradient_checkpointing=True, fast_path=False, memory_limit_gib=34.85)
    assert fast_path.plan_checkpointing(path, off, eight_b(), None, GPU).checkpointed is None
    unknown = {"model_type": "mystery", "hidden_size": 8, "vocab_size": 8}
    assert fast_path.plan_checkpointing(path, tight, unknown, None, GPU).checkpointed is None


def test_random_llama_has_the_shape_it_is_given():
    from studio.core.presets import count_lora_parameters
    from studio.engine.random_model import random_llama

    shape = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128, "tie_word_embeddings": False}
    model = random_llama(shape, device="cpu")
    assert model.config.num_hidden_layers == 2 and model.lm_head.weight.shape == (128, 64)
    assert count_lora_parameters(shape, ["auto"], 4) > 0


def test_automatic_compile_only_where_the_job_pays_it_back(monkeypatch, tmp_path):
    """A short job of short rows waits longer for the compile than its steps save (the H200 job
    runs: 103 s compiled vs 51 s eager for 225 steps); a long one, or a cached compile, pays."""
    monkeypatch.setenv("LORA_STUDIO_HOME", str(tmp_path))
    monkeypatch.setattr(fast_path, "triton_installed", lambda: True)
    lengths = [120, 90, 300, 60] * 50

    def size(micro_steps: int) -> fast_path.JobSize:
        return fast_path.JobSize(micro_steps, layers=16, layer_parameters=61_000_000, cache_key="llama-16x61M")

    short = fast_path.choose(job(), GPU, "llama", lengths, size=size(225))
    assert not short.compile and "not compiled: 225 steps" in short.compile_reason
    assert "nothing compiled is cached" in short.describe()
    assert fast_path.choose(job(), GPU, "llama", lengths, size=size(4000)).compile
    assert fast_path.choose(job(compile="on"), GPU, "llama", lengths, size=size(225)).compile  # asked for
    # Once this home compiled those layers, the compile costs about half: a mid-size job pays it back.
    mid = size(900)
    assert not fast_path.choose(job(), GPU, "llama", lengths, size=mid).compile
    compile_choice.remember(fast_path.cache_key(mid, packing=True))
    warm = fast_path.choose(job(), GPU, "llama", lengths, size=mid)
    assert warm.compile and "its compiled layers are cached" in warm.compile_reason
    # The record is per packing: padded batches compile other graphs.
    assert not compile_choice.was_compiled(fast_path.cache_key(mid, packing=False))


def test_compile_choice_without_a_readable_record(monkeypatch, tmp_path):
    monkeypatch.setenv("LORA_STUDIO_HOME", str(tmp_path))
    compile_choice.record_path().write_text("{not json", encoding="utf-8")
    assert not compile_choice.was_compiled("anything")
    compile_choice.remember("anything")  # a broken record is replaced, not a crash
    assert compile_choice.was_compiled("anything")


def test_graphs_give_way_where_their_pool_would_not_fit():
    """The 1B default job: ~11 GiB eager, ~21 GiB with the graphs' pool. Under a 16 GiB limit
    the steps run eagerly with nothing checkpointed rather than graphed with layers recomputed,
    also where the job checkpoints nothing."""
    from dataclasses import replace

    from studio.core.reference_shapes import MODEL_SHAPES

    one_b = dict(MODEL_SHAPES["llama-3.2-1b"])
    graphed = replace(fast_path.FastPath(packing=True, liger=False, fused_adamw=True, tf32=True), graphs=True,
                      attention="varlen")
    for checkpointing in (True, False):
        tight = fast_path.plan_checkpointing(
            graphed, job(gradient_checkpointing=checkpointing, memory_limit_gib=16), one_b, None, GPU)
        assert not tight.graphs and tight.checkpointed == (0 if checkpointing else None)
        assert "no CUDA graphs: their memory would not fit 16.0 GiB" in tight.describe()
    roomy = fast_path.plan_checkpointing(graphed, job(gradient_checkpointing=True, memory_limit_gib=40), one_b,
                                         None, GPU)
    assert roomy.graphs and roomy.checkpointed == 0
    small = fast_path.plan_checkpointing(graphed, job(gradient_checkpointing=True, memory_limit_gib=8), one_b,
                                         None, GPU)
    assert not small.graphs and small.checkpointed > 0  # too small either way: layers recompute


@pytest.mark.parametrize("tuner", [n for n in methods.tuner_names() if n != "lora"])
def test_a_tuner_whose_record_allows_no_compile_or_graphs_gets_neither(monkeypatch, tuner):
    """On the GPU, where plain LoRA would compile (or replay graphs), a tuner its record keeps
    off them runs eager layers; the CPU path is the same for every tuner."""
    monkeypatch.setattr(fast_path, "liger_installed", lambda: True)
    monkeypatch.setattr(fast_path, "triton_installed", lambda: True)
    monkeypatch.setattr(fast_path.varlen_attention, "available", lambda: True)
    record = methods.tuner(tuner)
    for switches in ({}, {"cuda_graphs": "on"}):
        lora, other = job(**switches), job(**switches)
        other.lora.tuner = tuner
        mine, theirs = (fast_path.choose(j, GPU, "llama", [512] * 8, graphs_faster=True) for j in (lora, other))
        assert mine.compile or mine.graphs
        assert (theirs.compile, theirs.graphs) == (mine.compile and record.compiles, mine.graphs and record.cuda_graphs)
    assert fast_path.choose(other, CPU, "llama", [512] * 8) == fast_path.choose(lora, CPU, "llama", [512] * 8)
