"""Real training on a tiny Llama: loss drops, the adapter reloads with identical logits."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import Recorder, tiny_job
from peft import PeftModel
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from studio.core import protocol
from studio.core.presets import count_lora_parameters
from studio.engine.control import Cancelled, JobControl
from studio.engine.training import train


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    job = tiny_job(tiny_model_dir, training={"max_steps": 16, "eval_steps": 8})
    rec = Recorder()
    result = train(job, run_dir, rec, JobControl())
    return job, run_dir, rec, result


def test_loss_drops(trained):
    _job, _run, rec, _result = trained
    losses = rec.losses()
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < 0.85 * sum(losses[:4]) / 4, losses  # ~-20% measured


def test_events_cover_the_lifecycle(trained):
    _job, _run, rec, result = trained
    phases = [e.name for e in rec.of(protocol.Phase)]
    for name in ("loading_model", "preparing_data", "training", "saving"):
        assert name in phases
    steps = rec.of(protocol.Step)
    assert [s.step for s in steps] == list(range(1, 17))
    assert all(s.total_steps == 16 and s.lr > 0 and s.tokens_per_s for s in steps)
    evals = rec.of(protocol.Eval)
    assert [e.step for e in evals] == [8, 16]
    assert evals[-1].perplexity == pytest.approx(torch.exp(torch.tensor(evals[-1].eval_loss)).item(), rel=1e-4)
    assert result.outputs["metrics"]["eval_loss"] == pytest.approx(evals[-1].eval_loss, rel=1e-3)


def test_adapter_is_peft_format_with_card(trained, tiny_model_dir):
    job, run_dir, _rec, result = trained
    adapter = run_dir / "adapter"
    assert {p.name for p in adapter.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors",
                                                   "card.json", "README.md"}
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["peft_type"] == "LORA"
    assert sorted(config["target_modules"]) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    card = json.loads((adapter / "card.json").read_text())
    assert card["method"] == "lora" and card["dataset"]["format"] == "alpaca"
    assert card["dataset"]["rows_train"] + card["dataset"]["rows_eval"] == 48
    assert card["metrics"]["steps"] == 16 and card["run_id"] == run_dir.name
    # The core count (no torch) matches what peft really trains.
    model_config = json.loads((tiny_model_dir / "config.json").read_text())
    assert count_lora_parameters(model_config, ["auto"], 8) == result.outputs["metrics"]["trainable_parameters"]
    with safe_open(adapter / "adapter_model.safetensors", "pt") as f:
        saved = sum(f.get_tensor(k).numel() for k in f.keys())
    assert saved == result.outputs["metrics"]["trainable_parameters"]


def test_adapter_reloads_with_identical_logits(trained, tiny_model_dir):
    _job, run_dir, _rec, result = trained
    ids = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])
    result.model.eval()
    with torch.no_grad():
        expected = result.model(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        base_logits = base(input_ids=ids).logits
        reloaded = PeftModel.from_pretrained(base, run_dir / "adapter").eval()
        got = reloaded(input_ids=ids).logits
    assert torch.equal(got, expected)
    assert not torch.allclose(base_logits, expected)  # the adapter really changed something


def test_cancel_between_steps_saves_nothing(tiny_model_dir, tmp_path):
    control = JobControl()
    rec = Recorder()

    def emit(event):
        rec(event)
        if isinstance(event, protocol.Step) and event.step == 2:
            control.request("cancel")

    with pytest.raises(Cancelled):
        train(tiny_job(tiny_model_dir), tmp_path, emit, control)
    assert not (tmp_path / "adapter").exists()
    assert max(s.step for s in rec.of(protocol.Step)) <= 3
