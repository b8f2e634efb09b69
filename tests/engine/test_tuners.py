"""Every tuner in core.methods trains the tiny model, saves a PEFT adapter that reloads to the
same outputs, keeps training from it, and does what its record claims (merging, the count)."""

from __future__ import annotations

import dataclasses
import json

import peft
import pytest
import torch
import transformers
from helpers import Recorder, tiny_job
from tiny_jobs import tiny_job_dict
from transformers import AutoModelForCausalLM

from studio.core import methods, protocol
from studio.core.job_schema import JobError
from studio.core.jobs import LoraSettings
from studio.core.presets import count_adapter_parameters
from studio.engine import adapter_setup
from studio.engine.control import JobControl
from studio.engine.training import train

# What each tuner needs to learn visibly in six steps of the tiny model: its record's change of a size
# preset (core.presets.for_method) applied to the tiny job's rank and rate. VeRA trains two scaling
# vectors per layer: its rank 256 and ten times the rate, as the Train form gives it on any preset.
TINY = tiny_job_dict("tiny")


def record_settings(name: str) -> tuple[dict, dict]:
    change = methods.tuner(name).preset
    lora = {"r": change.r} if change.r else {}
    rate = TINY["training"]["learning_rate"] * change.learning_rate_factor
    return lora, ({"learning_rate": rate} if change.learning_rate_factor != 1 else {})


SETTINGS = {name: record_settings(name) for name in methods.tuner_names() if methods.tuner(name).preset}
IDS = torch.tensor([[3, 9, 27, 81, 5, 40]])


def logits(model) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=IDS).logits


def reloaded(tiny_model_dir, folder) -> torch.Tensor:
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return logits(peft.PeftModel.from_pretrained(base, str(folder)))


@pytest.mark.parametrize("name", methods.tuner_names())
def test_tuner_trains_saves_reloads_and_continues(name, tiny_model_dir, tmp_path):
    record = methods.tuner(name)
    lora, training = SETTINGS.get(name, ({}, {}))
    job = tiny_job(tiny_model_dir, lora={"tuner": name, **lora}, training={"max_steps": 6, **training},
                   dataset={"eval_fraction": 0.0})
    rec = Recorder()
    first = train(job, tmp_path / "first", rec, JobControl())
    losses = rec.losses()
    assert len(losses) == 6 and min(losses[-2:]) < losses[0], losses
    adapter = tmp_path / "first" / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == record.peft_type and (adapter / "adapter_model.safetensors").is_file()
    card = json.loads((adapter / "card.json").read_text())
    assert card["method"] == job.lora.method_label() == name and card["lora"]["tuner"] == name
    model_config = AutoModelForCausalLM.from_pretrained(tiny_model_dir).config.to_dict()
    # The estimator's count is peft's (AdaLoRA's at its starting rank, as peft counts it).
    assert count_adapter_parameters(model_config, job.lora) == card["metrics"]["trainable_parameters"]
    expected = logits(first.model)
    torch.testing.assert_close(reloaded(tiny_model_dir, adapter), expected, rtol=1e-4, atol=1e-4)

    # Continue from it: the parent's tuner and shape win over the job's, and the result reloads alike.
    more = tiny_job(tiny_model_dir, lora={"continue_from": str(adapter), "r": 4}, training={"max_steps": 2},
                    dataset={"eval_fraction": 0.0})
    second = train(more, tmp_path / "second", Recorder(), JobControl())
    card = json.loads((tmp_path / "second" / "adapter" / "card.json").read_text())
    assert card["lora"]["tuner"] == name and card["lora"]["r"] == job.lora.r and card["method"] == name
    assert not torch.allclose(logits(second.model), expected)
    torch.testing.assert_close(reloaded(tiny_model_dir, tmp_path / "second" / "adapter"), logits(second.model),
                               rtol=1e-4, atol=1e-4)

    # The record's claims: merged into the base (export, GGUF) it answers alike; several combine or not.
    peft_model = first.model
    can_combine = hasattr(peft_model.base_model, "add_weighted_adapter")
    if can_combine and record.combines:
        peft_model.add_weighted_adapter(["default"], [1.0], adapter_name="again", combination_type="linear")
    elif can_combine:
        with pytest.raises((TypeError, ValueError)):
            peft_model.add_weighted_adapter(["default"], [1.0], adapter_name="again", combination_type="linear")
    else:
        assert not record.combines
    assert record.exports
    torch.testing.assert_close(logits(peft_model.merge_and_unload()), expected, rtol=1e-3, atol=1e-3)


def test_adalora_moves_its_rank_budget_during_the_run(tiny_model_dir, tmp_path):
    job = tiny_job(tiny_model_dir, lora={"tuner": "adalora", "r": 4}, training={"max_steps": 8},
                   dataset={"eval_fraction": 0.0})
    train(job, tmp_path, Recorder(), JobControl())
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert (config["init_r"], config["target_r"], config["total_step"]) == (6, 4, 8)
    kept = [sum(mask) for mask in config["rank_pattern"].values()]
    assert kept and sum(kept) == 4 * len(kept)  # pruned from 6 to an average of 4 a layer


@pytest.mark.parametrize("name", ["loha", "lokr", "oft"])
def test_a_tuner_that_cannot_adapt_the_models_layers_says_so(name):
    """peft's LyCORIS and OFT layers take nn.Linear only, not GPT-2's Conv1D."""
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=32, n_layer=1, n_head=2, n_positions=32,
                                                                 vocab_size=64))
    with pytest.raises(JobError, match=f"lora.tuner {methods.tuner(name).label} can't adapt this model's layers"):
        adapter_setup.apply_adapter(model, LoraSettings(tuner=name, r=4), False, quantized=False)


@pytest.mark.parametrize("name", [n for n in methods.tuner_names() if n != "lora" and methods.tuner(n).resumes])
def test_a_stopped_run_resumes_on_the_uninterrupted_curve(name, tiny_model_dir, tmp_path):
    job = tiny_job(tiny_model_dir, lora={"tuner": name}, training={"max_steps": 4}, dataset={"eval_fraction": 0.0})
    straight = Recorder()
    train(job, tmp_path / "straight", straight, JobControl())
    control, first = JobControl(), Recorder()

    def emit(event):
        first(event)
        if isinstance(event, protocol.Step) and event.step == 2:
            control.request("stop")

    train(job, tmp_path / "resumed", emit, control)
    second = Recorder()
    train(dataclasses.replace(job, training=dataclasses.replace(job.training, resume_from="latest")),
          tmp_path / "resumed", second, JobControl())
    assert first.losses() + second.losses() == pytest.approx(straight.losses(), rel=1e-3, abs=1e-3)
