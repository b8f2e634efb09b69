"""The memory estimate of the preference stages (DPO, ORPO, SimPO, KTO) as TRL runs them: chosen and
rejected trained together, the reference pass and adapter where there is one, the logits as each
trainer builds them; named in the breakdown, through the same path the Train page and CLI take."""

from __future__ import annotations

import dataclasses

import pytest

from studio.core import launch_plan, memory_fit, vram, vram_preference
from studio.core.jobs import TrainJob
from studio.core.reference_shapes import MODEL_SHAPES

GIB = 2**30
SHAPE = MODEL_SHAPES["llama-3.1-8b"]
SHARED = ("weights", "adapter", "gradients", "optimizer", "activations")  # what every stage counts alike


def job(stage: str = "sft", batch: int = 4, length: int = 1024, dropout: float = 0.0, **training) -> TrainJob:
    """TRL turns dropout off, so SFT is compared at dropout 0: then only the stage differs."""
    result = TrainJob()
    result.lora.dropout = dropout
    tr = result.training
    tr.stage, tr.batch_size, tr.max_length, tr.precision = stage, batch, length, "bf16"
    for name, value in training.items():
        setattr(tr, name, value)
    return result


def parts(estimate: vram.Estimate) -> dict[str, int]:
    return {part.key: part.bytes for part in estimate.parts}


# Measured on one NVIDIA H200 (torch 2.11, transformers 5.17, peft 0.21, trl 1.16, bitsandbytes 0.50.2),
# 2026-12-04: scripts/gpu_vram_preference.sh, each a whole job through engine.training.run_training on a
# random-weight model of the shape, every sequence cut at max length, LoRA r 16 on every linear layer.
# (shape, stage, quantization, batch, max length, checkpointing, peak GiB: allocator's + outside it)
H200_RUNS = [
    ("llama-3.2-1b", "dpo", "none", 4, 1024, False, 18.64),
    ("llama-3.2-1b", "orpo", "none", 4, 1024, False, 33.75),
    ("llama-3.2-1b", "simpo", "none", 4, 1024, False, 27.88),
    ("llama-3.2-1b", "kto", "none", 4, 1024, False, 11.23),
    ("llama-3.2-1b", "dpo", "4bit", 4, 1024, True, 3.63),
    ("llama-3.1-8b", "dpo", "4bit", 2, 1024, True, 9.02),
    ("llama-3.1-8b", "orpo", "4bit", 2, 1024, True, 14.57),
    ("llama-3.1-8b", "kto", "none", 4, 512, True, 17.99),
    ("llama-3.2-1b", "orpo", "none", 4, 1024, True, 20.28),
    ("llama-3.2-1b", "simpo", "none", 4, 1024, True, 14.41),
    ("llama-3.2-1b", "orpo", "none", 2, 1024, False, 16.56),
    ("llama-3.2-1b", "simpo", "none", 2, 1024, False, 15.59),
    ("llama-3.2-1b", "dpo", "none", 8, 512, True, 5.42),
    ("llama-3.2-1b", "kto", "none", 8, 512, True, 4.42),
]


@pytest.mark.parametrize("run", H200_RUNS, ids=lambda run: "-".join(map(str, run[:6])))
def test_the_estimate_covers_the_h200_runs(run):
    """Never more than 2% low; at most 16% high (ORPO at 4,096 tokens, whose allocator kept less around
    the logits than at 8,192: the estimate keeps the larger share)."""
    shape, stage, quantization, batch, length, checkpointing, measured = run
    measured_job = job(stage, batch, length, dropout=0.05, gradient_checkpointing=checkpointing)
    measured_job.model.quantization = quantization
    measured_job.lora.r, measured_job.lora.alpha = 16, 32
    estimate = vram.estimate(measured_job, MODEL_SHAPES[shape]).total / GIB
    assert 0.98 * measured <= estimate <= 1.16 * measured


# GRPO, LoRA on every linear layer, 4 steps through the app (scripts/gpu_grpo.sh, docs/gpu_runs/grpo):
# (shape, prompts per step, answers per prompt, longest answer, max_length, measured GiB).
GRPO_H200_RUNS = [("llama-3.2-1b", 4, 8, 512, 768, 71.65), ("llama-3.1-8b", 2, 8, 512, 768, 127.99)]


@pytest.mark.parametrize("run", GRPO_H200_RUNS, ids=lambda run: run[0])
def test_the_grpo_estimate_covers_the_h200_runs(run):
    """Never low; at most 20% high (the 1B run's prompts were shorter than the max_length it counts)."""
    shape, prompts, answers, completion, length, measured = run
    measured_job = job("grpo", prompts, length, dropout=0.05)
    measured_job.lora.r, measured_job.lora.alpha = 16, 32
    measured_job.grpo.num_generations, measured_job.grpo.max_completion_length = answers, completion
    estimate = vram.estimate(measured_job, MODEL_SHAPES[shape])
    assert measured <= estimate.total / GIB <= 1.2 * measured
    assert parts(estimate)["generation"] >= prompts * answers * length * 2 * 2 * 512  # at least a 1B cache


@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize("stage", ["dpo", "orpo", "simpo"])
def test_a_pair_trains_two_sequences_per_row(stage, checkpointing):
    pairs = vram.estimate(job(stage, batch=4, gradient_checkpointing=checkpointing), SHAPE)
    twice = vram.estimate(job("sft", batch=8, gradient_checkpointing=checkpointing), SHAPE)
    assert pairs.part("activations").bytes == twice.part("activations").bytes
    assert pairs.part("activations").note.startswith("chosen + rejected: 2 sequences per row, 8,192 tokens/step")
    # and the pairs' memory grows with the batch and the length, as SFT's does
    assert vram.estimate(job(stage, batch=8, gradient_checkpointing=checkpointing), SHAPE).total > pairs.total
    assert vram.estimate(job(stage, length=2048, gradient_checkpointing=checkpointing), SHAPE).total > pairs.total


def test_kto_trains_one_sequence_per_row():
    kto = vram.estimate(job("kto", batch=4), SHAPE)
    assert kto.part("activations").bytes == vram.estimate(job("sft", batch=4), SHAPE).part("activations").bytes
    assert "2 sequences" not in kto.part("activations").note


@pytest.mark.parametrize("stage", ["dpo", "orpo", "simpo", "kto"])
def test_every_stage_needs_more_than_sft_of_the_same_job(stage):
    """SFT on the GPU fast path fuses its loss (no logits); each stage adds its own on top. SFT with its
    full logits is passed by the stages that build theirs whole, over twice the rows."""
    for checkpointing in (False, True):
        preference = vram.estimate(job(stage, gradient_checkpointing=checkpointing), SHAPE).total
        assert preference > vram.estimate(job("sft", gradient_checkpointing=checkpointing), SHAPE,
                                          fused_loss=True).total
        if stage in ("orpo", "simpo"):
            assert preference > vram.estimate(job("sft", gradient_checkpointing=checkpointing), SHAPE).total


@pytest.mark.parametrize("stage", ["dpo", "kto"])
def test_dpo_and_kto_count_the_reference_pass_and_the_frozen_adapter(stage):
    estimate = vram.estimate(job(stage), SHAPE)
    found = parts(estimate)
    assert found["reference_adapter"] == found["adapter"] > 0  # the same adapter, frozen: no gradients or states
    assert found["gradients"] == found["adapter"]
    sequences = 2 if stage == "dpo" else 1
    tokens = 4 * 1024 * sequences
    assert found["reference"] == int(vram_preference.reference_pass_bytes(tokens, 4096, 14336))
    assert estimate.part("reference").label == "Reference pass (no gradients)"
    assert f"{tokens:,} tokens" in estimate.part("reference").note
    assert "fused LM head" in estimate.part("logits").note  # TRL scores the replies without the full logits
    same_tokens = vram.estimate(job("sft", batch=4 * sequences), SHAPE)
    assert estimate.part("logits").bytes < 0.1 * same_tokens.part("logits").bytes


@pytest.mark.parametrize("stage", ["orpo", "simpo"])
def test_orpo_and_simpo_have_no_reference_and_build_the_logits_whole(stage):
    estimate = vram.estimate(job(stage), SHAPE)
    assert "reference" not in parts(estimate) and "reference_adapter" not in parts(estimate)
    assert estimate.part("logits").bytes > 3.5 * GIB  # 8,192 tokens x 128,256 entries: bf16 and their gradient
    assert "8,192 x 128,256 vocabulary" in estimate.part("logits").note


def test_dpo_is_simpo_without_the_whole_logits_and_with_a_reference():
    """The two train the same pairs alike; DPO adds the reference pass and adapter and scores the
    replies in tiles, SimPO builds the logits whole: on an H200 (1B, 2 x 4 x 1,024 tokens) DPO
    peaked at 18.6 GiB, SimPO at 27.9."""
    for shape in (SHAPE, MODEL_SHAPES["llama-3.2-1b"], MODEL_SHAPES["smollm2-135m"]):
        dpo, simpo = parts(vram.estimate(job("dpo"), shape)), parts(vram.estimate(job("simpo"), shape))
        assert {key: dpo[key] for key in SHARED} == {key: simpo[key] for key in SHARED}
        assert dpo["reference"] > 0 and dpo["reference_adapter"] > 0
        assert dpo["logits"] + dpo["reference"] + dpo["reference_adapter"] < simpo["logits"]
        assert sum(dpo.values()) < sum(simpo.values())


def test_kto_lies_between_sft_and_dpo():
    """Half DPO's sequences and half its reference pass; SFT's rows plus a reference."""
    for checkpointing in (False, True):
        sft = vram.estimate(job("sft", gradient_checkpointing=checkpointing), SHAPE, fused_loss=True).total
        kto = vram.estimate(job("kto", gradient_checkpointing=checkpointing), SHAPE)
        dpo = vram.estimate(job("dpo", gradient_checkpointing=checkpointing), SHAPE)
        assert sft < kto.total < dpo.total
        assert kto.part("reference").bytes < dpo.part("reference").bytes


def test_simpo_with_a_chosen_reply_loss_keeps_more_of_the_logits():
    plain = job("simpo")
    with_nll = dataclasses.replace(plain, preference=dataclasses.replace(plain.preference, cpo_alpha=1.0))
    assert vram.estimate(with_nll, SHAPE).part("logits").bytes > vram.estimate(plain, SHAPE).part("logits").bytes
    assert vram.estimate(with_nll, SHAPE).part("logits").bytes == vram.estimate(job("orpo"), SHAPE).part("logits").bytes


@pytest.mark.parametrize("stage", ["dpo", "orpo", "simpo", "kto"])
def test_the_breakdown_names_the_parts_and_adds_up(stage):
    estimate = vram.estimate(job(stage), SHAPE)
    keys = [part.key for part in estimate.parts]
    expected = ["weights", "adapter", "gradients", "optimizer", "activations", "logits", "allocator", "context"]
    if stage in ("dpo", "kto"):
        expected.insert(2, "reference_adapter")
        expected.insert(7, "reference")
    assert keys == expected
    assert estimate.total == sum(part.bytes for part in estimate.parts) == estimate.as_dict()["total_bytes"]
    assert all(part.bytes >= 0 and part.label and part.note for part in estimate.parts)
    assert all(part.bytes > 0 for part in estimate.parts if part.key != "allocator")
    assert any(note.startswith(f"{stage.upper()}: counted as TRL's trainer runs it") for note in estimate.notes)
    assert not any(note.startswith("dropout 0") for note in estimate.notes)  # that note is SFT's


def test_trl_turns_dropout_off():
    assert vram.estimate(job("dpo", dropout=0.05), SHAPE).total == vram.estimate(job("dpo", dropout=0.0), SHAPE).total
    assert vram.estimate(job("sft", dropout=0.05), SHAPE).total > vram.estimate(job("sft", dropout=0.0), SHAPE).total


def test_the_fast_paths_options_do_not_apply_to_a_preference_stage():
    """TRL's trainer runs plainly: no fused loss, compile, CUDA graphs or partial checkpointing."""
    checkpointed = job("dpo", gradient_checkpointing=True)
    plain = vram.estimate(checkpointed, SHAPE)
    assert vram.estimate(checkpointed, SHAPE, fused_loss=True, compiled=True, graphs=True,
                         checkpointed_layers=4).total == plain.total
    assert vram.partial_checkpointing(checkpointed, SHAPE, 140 * GIB) is None
    assert vram.partial_checkpointing(job("sft", gradient_checkpointing=True), SHAPE, 140 * GIB) is not None
    assert vram.checkpointed_layers_needed(checkpointed, SHAPE, 140 * GIB) == 32
    assert not vram.graphs_fit(job("dpo"), SHAPE, 140 * GIB)


def test_the_stage_reaches_the_estimate_the_train_page_and_cli_show():
    """launch_plan.per_gpu_estimate (the memory panel, lora-studio estimate) and memory_fit.check (Start's
    check) take the job alone: its stage is in it."""
    dpo = job("dpo")
    shown, _options = launch_plan.per_gpu_estimate(dpo, SHAPE, None, 140 * GIB, graphs=True)
    assert shown.total == vram.estimate(dpo, SHAPE).total and "reference" in parts(shown)
    fit = memory_fit.check(dpo, SHAPE, memory_fit.Target("gpu", 24 * GIB, "a 24 GB card"))
    assert fit.needed == shown.total and not fit.fits
    assert all("reference" in str(fix.label).lower() or fix.needed < shown.total for fix in fit.fixes)


def test_kto_suggestions_keep_two_rows_a_batch():
    """TRL's KTO pairs each batch's replies with each other's prompts for its KL term: batch 1 is refused."""
    def batches(found: list[vram.Suggestion]) -> list[int]:
        return [s.edits["training.batch_size"] for s in found if "training.batch_size" in s.edits]

    # 8B, 2,048 tokens: KTO at batch 1 would need 31 GiB, at batch 2 45 GiB
    assert batches(vram.suggest(job("kto", batch=2, length=2048), SHAPE, 40 * GIB, limit=10)) == []
    assert batches(vram.suggest(job("kto", batch=8, length=2048), SHAPE, 50 * GIB, limit=10)) == [2]
    assert batches(vram.suggest(job("dpo", batch=2, length=2048), SHAPE, 50 * GIB, limit=10)) == [1]


def test_fp32_scales_the_preference_parts_too():
    bf16, fp32 = vram.estimate(job("dpo"), SHAPE), vram.estimate(job("dpo", precision="fp32"), SHAPE)
    for key in ("activations", "logits", "reference"):
        assert fp32.part(key).bytes == pytest.approx(2 * bf16.part(key).bytes, rel=1e-6)
