"""Each tuner's own memory terms (core.vram_methods, from its record) in the estimate: where they
differ from LoRA's, the estimate moves the way peft's forward says."""

from __future__ import annotations

import pytest

from studio.core import vram, vram_methods
from studio.core.job_schema import job_from_dict, to_dict
from studio.core.jobs import LoraSettings, TrainJob
from studio.core.methods import METHODS, apply_method, tuner_names
from studio.core.methods.oft import block_size
from studio.core.presets import linear_shapes
from studio.core.reference_shapes import MODEL_SHAPES

SHAPE = MODEL_SHAPES["llama-3.2-1b"]
SHAPES = linear_shapes(SHAPE) or {}
MODULES = list(SHAPES)
LAYERS = SHAPE["num_hidden_layers"]


def tuner_job(method: str, checkpointing: bool = False, **lora) -> TrainJob:
    data = apply_method(to_dict(TrainJob()), method)
    data["training"].update(batch_size=4, max_length=1024, precision="bf16", gradient_checkpointing=checkpointing)
    data["lora"].update(lora)
    return job_from_dict(data)


def memory(method: str, **lora) -> vram_methods.AdapterMemory:
    job = tuner_job(method, **lora)
    return vram_methods.adapter_memory(job.lora, SHAPES, MODULES, job.lora.dropout)


def test_lora_and_dora_terms_are_the_measured_ones():
    inputs = sum(i for i, _ in SHAPES.values())
    outputs = sum(o for _, o in SHAPES.values())
    assert memory("lora").per_token == 3 * inputs  # bf16 input copy + dropout mask
    assert memory("lora", dropout=0.0).per_token == 2 * inputs
    assert memory("dora").per_token == 3 * inputs + 6 * outputs
    plain = memory("lora")
    assert (plain.per_layer, plain.working, plain.shared, plain.per_trainable, plain.measured) == (0, 0, 0, 0, True)
    # scripts/vram_report.py still asks with a bool for DoRA
    assert vram.layer_bytes(SHAPE, SHAPES, MODULES, 0.05, True) == vram.layer_bytes(
        SHAPE, SHAPES, MODULES, 0.05, LoraSettings(use_dora=True))


@pytest.mark.parametrize("method", ["loha", "lokr"])
def test_lycoris_keeps_each_layers_built_update(method):
    found = memory(method)
    weights = sum(i * o for i, o in SHAPES.values())
    assert found.per_layer == 2 * weights  # the bf16 update of every adapted layer
    assert found.working >= 12 * max(i * o for i, o in SHAPES.values())  # fp32 transients of the largest
    eager = vram.estimate(tuner_job(method), SHAPE).part("activations").bytes
    lora = vram.estimate(tuner_job("lora"), SHAPE).part("activations").bytes
    tokens = 4 * 1024
    per_token = tokens * LAYERS * (found.per_token - memory("lora").per_token)  # no dropout mask: 2 bytes, not 3
    # every layer's update kept till the backward, and the largest one's transient
    assert eager - lora == pytest.approx(per_token + LAYERS * found.per_layer + found.working, abs=4)
    # checkpointed: one layer's update at a time, not every layer's
    held = vram.estimate(tuner_job(method, True), SHAPE).part("activations").bytes
    lora_held = vram.estimate(tuner_job("lora", True), SHAPE).part("activations").bytes
    assert held - lora_held < 2 * found.per_layer + found.working


def test_vera_keeps_output_sized_activations_and_its_shared_projections():
    found = memory("vera", r=256)
    assert found.per_token > memory("lora").per_token + 2 * sum(o for _, o in SHAPES.values()) - 1
    widest_in, widest_out = max(i for i, _ in SHAPES.values()), max(o for _, o in SHAPES.values())
    assert found.shared == 4 * 256 * (widest_in + widest_out)
    estimate = vram.estimate(tuner_job("vera", r=256), SHAPE)
    assert "shared frozen projections" in estimate.part("weights").note
    assert estimate.part("weights").bytes == vram.estimate(tuner_job("lora"), SHAPE).part("weights").bytes + int(
        found.shared)


def test_oft_rebuilds_its_rotation_blocks_per_layer():
    found = memory("oft", r=32)
    assert found.per_layer == sum(14 * i * block_size(i, 32) for i, _ in SHAPES.values())
    assert memory("oft", r=64).per_layer > found.per_layer  # larger blocks, more to keep


def test_adalora_scores_every_parameter_beside_the_optimizer():
    job = tuner_job("adalora")
    estimate = vram.estimate(job, SHAPE)
    trainable = estimate.part("adapter").bytes // 4
    assert estimate.part("optimizer").bytes == trainable * (8 + 12)  # adamw's 8, the RankAllocator's 12
    assert "12 more for adalora" in estimate.part("optimizer").note
    assert memory("adalora").per_token > memory("lora").per_token  # the rank-r0 projection B keeps


@pytest.mark.parametrize("method", [m for m in METHODS if m in tuner_names()])
def test_each_tuner_says_whether_its_terms_were_measured(method):
    notes = vram.estimate(tuner_job(method), SHAPE).notes
    assert any("not measured on a GPU yet" in note for note in notes) == (method != "lora")
