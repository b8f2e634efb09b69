"""Every LoRA variant trains on the tiny model and saves a loadable adapter."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import Recorder, tiny_job
from peft import PeftModel
from transformers import AutoModelForCausalLM

from studio.engine.control import JobControl
from studio.engine.training import train

VARIANTS = {
    "rslora": ({"use_rslora": True}, {"use_rslora": True}),
    "dora": ({"use_dora": True}, {"use_dora": True}),
    # Converted on save into a plain rank-2r LoRA that applies to the untouched base.
    "pissa": ({"init": "pissa"}, {"r": 16, "init_lora_weights": True}),
    "olora": ({"init": "olora"}, {"r": 16, "init_lora_weights": True}),
    "loraplus": ({"loraplus_lr_ratio": 16.0}, {}),
    "attention-only": ({"target_modules": ["q_proj", "v_proj"]}, {}),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_trains_and_reloads(variant, tiny_model_dir, tmp_path):
    lora, expected_config = VARIANTS[variant]
    job = tiny_job(tiny_model_dir, lora=lora, training={"max_steps": 3}, dataset={"eval_fraction": 0.0})
    rec = Recorder()
    result = train(job, tmp_path, rec, JobControl())
    assert len(rec.losses()) == 3 and all(torch.isfinite(torch.tensor(rec.losses())))
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    for key, value in expected_config.items():
        assert config[key] == value
    card = json.loads((tmp_path / "adapter" / "card.json").read_text())
    assert card["method"] == job.lora.method_label()
    if variant == "attention-only":
        assert sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    ids = torch.tensor([[3, 9, 27, 81]])
    result.model.eval()
    with torch.no_grad():
        expected = result.model(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        got = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()(input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_all_linear_targets_every_linear_layer(tiny_model_dir, tmp_path):
    job = tiny_job(tiny_model_dir, lora={"target_modules": ["all-linear"]}, training={"max_steps": 1},
                   dataset={"eval_fraction": 0.0})
    train(job, tmp_path, Recorder(), JobControl())
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    names = {name.rsplit(".", 1)[-1] for name in config["target_modules"]}
    assert names == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.mark.parametrize("training", [
    {"gradient_checkpointing": True},
    {"grad_accum": 2, "batch_size": 2},
    {"packing": True},
    {"precision": "bf16"},
])
def test_training_options_run_and_learn(training, tiny_model_dir, tmp_path):
    job = tiny_job(tiny_model_dir, training={"max_steps": 6, **training}, dataset={"eval_fraction": 0.0})
    rec = Recorder()
    train(job, tmp_path, rec, JobControl())
    losses = rec.losses()
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert min(losses[-2:]) < losses[0]
