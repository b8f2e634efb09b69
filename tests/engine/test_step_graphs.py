"""CUDA graphs of short steps: the row-length ladder, what a graph is keyed by, the loss it
computes, when the fast path asks for graphs, and the fallback when a capture fails.

A CUDA graph itself needs a GPU: scripts/check_step_graphs.py trains the same steps
graphed and eagerly on the GPU machine and compares them (docs/benchmarks.md). Here the
CPU checks everything around the capture: the graphed function's loss and gradients
(``_PackedLoss``, the module captured) against the model's own on bucketed rows, and
that a capture which cannot happen (this machine has no CUDA) leaves eager steps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from studio.engine import data_prep, fast_path, layer_setup, step_graphs, varlen_attention
from studio.engine.hardware import Hardware
from tests.engine.test_fast_path import job
from tests.engine.test_varlen_attention import features, lora_model, loss_and_gradients

GPU = Hardware("cuda", "bf16")
SHORT_ROWS = [50, 600, 80, 200, 120, 90, 300, 64]


@pytest.fixture(autouse=True)
def restore_kernel():
    yield
    varlen_attention._KERNEL, varlen_attention._OPTIONS = None, {}


def test_the_ladder_gives_few_lengths_each_longer_than_the_row():
    seen = []
    for tokens in range(0, 8192):
        length = data_prep.bucket_length(tokens)
        assert length > tokens and length % 64 == 0
        assert length <= max(tokens + 64, 1.25 * tokens + 64)  # at most ~25% filler
        if length not in seen:
            seen.append(length)
    assert seen[:8] == [64, 128, 192, 256, 320, 448, 576, 768]
    assert len(seen) == 19  # 8k tokens in 19 lengths: 19 graphs at most


def test_bucketed_rows_end_in_a_filler_sequence():
    batch = data_prep.PackedCollator(0, boundaries=True, bucketed=True)(features((5, 17, 9, 33)))
    assert batch["input_ids"].shape == (1, 128)  # 64 tokens need a filler: the next length
    assert batch["cu_seq_lens_q"].tolist() == [0, 5, 22, 31, 64, 128]
    assert (batch["labels"][0, 64:] == data_prep.IGNORE).all()
    assert batch["position_ids"][0, 64:].tolist() == list(range(64))


def test_the_graphed_module_computes_the_models_loss_and_gradients():
    """``_PackedLoss`` (what a graph captures) on a bucketed row, its longest sequence
    the whole row, gives the loss and LoRA gradients of the model on the unbucketed row."""
    rows = features()
    model = lora_model()
    varlen_attention.use(model, kernel=varlen_attention.reference_kernel)
    want_loss, want = loss_and_gradients(model, data_prep.PackedCollator(0, boundaries=True)(rows))
    batch = data_prep.PackedCollator(0, boundaries=True, bucketed=True)(rows)
    items = sum(len(r["labels"]) - 1 for r in rows)  # the Trainer's count: labels after the shift
    key = step_graphs.row_key(batch, torch.tensor(items))
    assert key == (64, 6, True)
    step = step_graphs._PackedLoss(model, longest=key[0])
    model.zero_grad()
    loss = step(*step_graphs._arguments(batch, items))
    loss.backward()
    torch.testing.assert_close(loss.detach(), want_loss)
    for name, param in model.named_parameters():
        if param.requires_grad:
            torch.testing.assert_close(param.grad, want[name], msg=name)
    # Without the Trainer's token count: the model's own mean, as eagerly.
    model.zero_grad()
    torch.testing.assert_close(step(*step_graphs._arguments(batch, None)).detach(), want_loss)


def test_only_single_packed_rows_have_a_graph():
    packed = data_prep.PackedCollator(0, boundaries=True, bucketed=True)(features())
    assert step_graphs.row_key(packed) == (64, 6, False)
    padded = data_prep.collator(type("T", (), {"pad_token_id": 0})(), packing=False)
    assert step_graphs.row_key({"input_ids": torch.zeros(2, 8, dtype=torch.long),
                                "labels": torch.zeros(2, 8, dtype=torch.long)}) is None
    assert padded is not None
    assert step_graphs.row_key({**packed, "attention_mask": torch.ones(1, 64)}) is None  # unknown key
    assert step_graphs.row_key({k: v for k, v in packed.items() if not k.startswith("cu_")}) is None


def test_a_capture_that_cannot_happen_leaves_the_run_eager():
    """This CPU has no CUDA: the first sighting of a shape runs eagerly as it always does,
    the second tries a capture, which fails; graphs are then off, with the reason, and
    every later step is eager without another attempt."""
    model = lora_model()
    varlen_attention.use(model, kernel=varlen_attention.reference_kernel)
    batch = data_prep.PackedCollator(0, boundaries=True, bucketed=True)(features())
    graphs = step_graphs.StepGraphs()
    assert graphs.loss(model, batch) is None and not graphs.stats.off_reason  # first sighting: eager
    assert graphs.loss(model, batch) is None and graphs.stats.off_reason  # the capture failed
    assert graphs.loss(model, batch) is None
    assert graphs.stats.eager == 3 and graphs.stats.replayed == 0 and graphs.stats.shapes == 0
    assert "turned off" in graphs.stats.describe()


def test_short_steps_on_one_gpu_are_graphed(monkeypatch):
    monkeypatch.setattr(fast_path.varlen_attention, "available", lambda: True)
    monkeypatch.setattr(fast_path, "triton_installed", lambda: True)
    short = fast_path.choose(job(), GPU, "llama", SHORT_ROWS, graphs_faster=True)
    assert short.graphs and not short.compile and "CUDA graphs" in short.describe()
    assert "no compile: CUDA graphs replay these short steps" in short.describe()
    assert not fast_path.choose(job(), GPU, "llama", SHORT_ROWS).graphs  # GPU-bound steps: nothing to gain
    assert fast_path.choose(job(cuda_graphs="on"), GPU, "llama", SHORT_ROWS).graphs
    for refused in (job(cuda_graphs="off"), job(grad_accum=2), job(compile="on"), job(fast_path=False)):
        assert not fast_path.choose(refused, GPU, "llama", SHORT_ROWS, graphs_faster=True).graphs
    assert not fast_path.choose(job(), GPU, "llama", SHORT_ROWS, processes=2, graphs_faster=True).graphs
    # Rows of one length: packed all the same, since a graph takes one packed row (and the
    # step is launches, not work); left padded, with Liger's fused loss, where the work dominates.
    even = fast_path.choose(job(), GPU, "llama", [512] * 8, graphs_faster=True)
    assert even.graphs and even.packing and not even.liger
    assert not fast_path.choose(job(), GPU, "llama", [512] * 8).packing
    assert not fast_path.choose(job(), GPU, "opt", SHORT_ROWS, graphs_faster=True).graphs  # packing would leak
    monkeypatch.setattr(fast_path.varlen_attention, "available", lambda: False)
    assert not fast_path.choose(job(), GPU, "llama", SHORT_ROWS, graphs_faster=True).graphs


def test_a_checkpointed_layer_turns_graphs_off():
    """Whatever checkpoints a layer (the plan against a memory limit, a layer count the plan
    did not expect, no plan at all), the layers as set decide: a recompute saves and restores
    the RNG state, which no capture can hold."""
    from tests.engine.test_layer_setup import LAYERS, PLAIN, lora_model

    graphed = dataclasses.replace(PLAIN, graphs=True)
    assert layer_setup.apply(lora_model(), dataclasses.replace(graphed, checkpointed=0, layers=LAYERS)).graphs
    assert not layer_setup.apply(lora_model(), dataclasses.replace(graphed, checkpointed=1, layers=LAYERS)).graphs
    assert not layer_setup.apply(lora_model(), dataclasses.replace(graphed, checkpointed=0, layers=32)).graphs
    assert not layer_setup.apply(lora_model(), graphed).graphs  # no plan: every layer checkpointed
    assert layer_setup.apply(lora_model(checkpointing=False), graphed).graphs
