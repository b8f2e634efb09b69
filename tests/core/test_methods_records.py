"""The facts each method's record holds and the code that reads them (issue 19): the loss it adds,
whether compile = auto may compile it, and a size preset's rank and learning rate for it."""

from __future__ import annotations

import pytest

from studio.core import compile_choice, methods
from studio.core.job_schema import job_from_dict, to_dict
from studio.core.jobs import LoraSettings, TrainJob
from studio.core.methods import METHODS, apply_method
from studio.core.presets import (
    PRESET_FIELDS,
    all_presets,
    for_method,
    method_rechosen,
    preset_fields,
    preset_for,
)


def test_only_adalora_adds_to_the_models_loss():
    assert [m.name for m in METHODS.values() if m.adds_loss] == ["adalora"]


@pytest.mark.parametrize("method", list(METHODS))
def test_compile_auto_follows_every_record_in_use(method):
    job = job_from_dict(apply_method(to_dict(TrainJob()), method))
    records = methods.records(job.lora, job.model.quantization)
    assert records[0].name == job.lora.tuner and (method in [r.name for r in records])
    faster = compile_choice.measured_faster(True, 1, job.lora, job.model.quantization, kernels=True)
    assert faster == (method in ("lora", "rslora", "qlora", "pissa", "olora", "loraplus"))


def test_dora_alone_keeps_compile_auto_off():
    assert compile_choice.measured_faster(True, 1, LoraSettings(), "none", kernels=True)
    assert not compile_choice.measured_faster(True, 1, LoraSettings(use_dora=True), "none", kernels=True)
    assert not METHODS["dora"].compiles and METHODS["lora"].compiles


def test_a_size_preset_for_vera_has_its_rank_and_rate():
    medium = preset_for(3e9)
    vera = for_method(medium, "vera")
    assert (vera.r, vera.learning_rate) == (256, pytest.approx(10 * medium.learning_rate))
    assert (vera.alpha, vera.dropout, vera.scope) == (medium.alpha, medium.dropout, medium.scope)
    assert "rank 256" in vera.note
    assert for_method(medium, "oft").r == 32  # OFT's r is its block size: peft's default
    for method in ("lora", "dora", "qlora", "rslora", "loraplus", "loha", "lokr", "adalora"):
        assert for_method(medium, method) == medium


@pytest.mark.parametrize("preset", all_presets(), ids=lambda p: p.name)
def test_choosing_vera_on_a_size_preset_gives_a_job_with_its_values(preset):
    """What the Train form does when VeRA is chosen over a preset's values: the job that results."""
    data = to_dict(TrainJob())
    for dotted, value in preset_fields(preset).items():
        section, name = dotted.split(".")
        data[section][name] = value
    values = {name: data[name.split(".")[0]][name.split(".")[1]] for name in PRESET_FIELDS}
    changes = method_rechosen(values, "lora", "vera")
    assert changes == {"lora.r": 256, "training.learning_rate": pytest.approx(10 * preset.learning_rate)}
    for dotted, value in changes.items():
        section, name = dotted.split(".")
        data[section][name] = value
    job = job_from_dict(apply_method(data, "vera"))
    assert (job.lora.tuner, job.lora.r) == ("vera", 256)
    assert job.training.learning_rate == pytest.approx(10 * preset.learning_rate)
    # and back: LoRA takes the preset's own values again
    back = method_rechosen({**values, **changes}, "vera", "lora")
    assert back == {"lora.r": preset.r, "training.learning_rate": pytest.approx(preset.learning_rate)}


def test_the_persons_own_values_are_never_changed_by_a_method():
    values = {"lora.r": 12, "lora.alpha": 32.0, "lora.dropout": 0.05, "training.learning_rate": 2e-4}
    assert method_rechosen(values, "lora", "vera") == {}
    defaults = {name: preset_fields(preset_for(3e9))[name] for name in PRESET_FIELDS}
    assert method_rechosen(defaults, "lora", "dora") == {}  # DoRA keeps LoRA's preset
    assert method_rechosen(defaults, "lora", "oft") == {"lora.r": 32}


def test_a_variant_takes_its_tuners_preset_change():
    assert methods.preset_change("dora") == methods.tuner("lora").preset
    assert methods.preset_change("vera").r == 256 and not methods.preset_change("loha")


def test_the_models_narrowest_layer_caps_a_records_rank():
    """The bundled SmolLM2-135M's k_proj is 576 -> 192: VeRA's 256 would be an unusual rank there."""
    smollm2 = {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
               "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64, "vocab_size": 49152}
    small = preset_for(135e6)
    assert for_method(small, "vera", smollm2).r == 192
    assert for_method(small, "oft", smollm2).r == 32 and for_method(small, "lora", smollm2) == small
    values = preset_fields(small)
    assert method_rechosen(values, "lora", "vera", smollm2)["lora.r"] == 192
    assert method_rechosen({**values, "lora.r": 192, "training.learning_rate": 10 * small.learning_rate},
                           "vera", "lora", smollm2) == {"lora.r": small.r,
                                                         "training.learning_rate": pytest.approx(small.learning_rate)}
