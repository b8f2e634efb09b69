"""The bundled GGUF model: converted once, cached, and trainable (slow: a 135M model)."""

from __future__ import annotations

import json

import pytest
from helpers import Recorder

from studio.core import protocol
from studio.core.job_schema import job_from_dict
from studio.engine.control import JobControl
from studio.engine.model_loading import COMPLETE_MARKER, ensure_hf_folder, resolve_model_path
from studio.engine.training import train

pytestmark = pytest.mark.slow


def test_conversion_is_cached(bundled_model):
    source = resolve_model_path("bundled")
    assert source.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    folder = ensure_hf_folder(source)
    assert folder.resolve() == bundled_model.resolve()
    assert (folder / COMPLETE_MARKER).exists() and (folder / "model.safetensors").exists()
    config = json.loads((folder / "config.json").read_text())
    assert config["num_hidden_layers"] == 30 and "quantization_config" not in config


def test_bundled_model_trains_and_loss_drops(bundled_model, tmp_path):
    job = job_from_dict({
        "dataset": {"max_rows": 40, "eval_fraction": 0.0},
        "lora": {"r": 16, "alpha": 32},
        "training": {"max_steps": 8, "batch_size": 4, "learning_rate": 1e-3, "max_length": 128,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant", "device": "cpu"},
    })
    rec = Recorder()
    result = train(job, tmp_path, rec, JobControl())
    losses = rec.losses()
    assert len(losses) == 8
    assert sum(losses[-2:]) / 2 < 0.75 * sum(losses[:2]) / 2, losses
    card = json.loads((tmp_path / "adapter" / "card.json").read_text())
    assert card["base_model"]["architecture"] == "LlamaForCausalLM"
    assert card["base_model"]["num_parameters"] == 134_515_008
    assert result.outputs.metrics.trainable_parameters == 4_884_480
    assert any(p.detail and "cpu fp32" in p.detail for p in rec.of(protocol.Phase))
