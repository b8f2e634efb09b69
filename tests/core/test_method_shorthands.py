"""Methods: one registry for the CLI, GUI, card labels and validator, switching cleanly, and
read back from a job."""

from __future__ import annotations

import dataclasses
import json

import pytest

from studio.core import job_toml, methods
from studio.core.job_schema import JobError, job_from_dict, load_job, to_dict
from studio.core.jobs import LoraSettings, TrainJob
from studio.core.methods import METHODS, apply_method, detect_method

TUNERS = methods.tuner_names()
NEW_TUNERS = ["loha", "lokr", "vera", "adalora", "oft"]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_builds_a_valid_job_and_is_detected(method):
    data = apply_method(to_dict(TrainJob()), method)
    job = job_from_dict(data)
    assert detect_method(to_dict(job)) == method
    record = METHODS[method]
    assert record.label and record.help and record.uses
    assert methods.tuner(record.tuner).peft_config  # its tuner says how peft builds it


def test_every_tuner_record_says_how_peft_builds_it_and_what_it_trains():
    assert set(NEW_TUNERS) < set(TUNERS) and TUNERS[0] == "lora"
    for name in TUNERS:
        record = methods.tuner(name)
        assert record.peft_type and record.peft_config.endswith("Config") and record.trainable is not None
        config_class, kwargs = methods.peft_arguments(LoraSettings(tuner=name), total_steps=100)
        assert config_class == record.peft_config and kwargs
        assert json.loads(json.dumps(kwargs)) == kwargs  # plain data: the engine alone knows peft
        assert methods.trainable_per_layer(LoraSettings(tuner=name, r=8), 64, 128) > 0


def test_switching_method_resets_what_the_last_one_set():
    data = apply_method(apply_method(to_dict(TrainJob()), "qlora"), "dora")
    assert data["model"]["quantization"] == "none"
    assert data["lora"]["use_dora"] is True
    assert apply_method(data, "lora") == to_dict(TrainJob())
    loha = apply_method(data, "loha")
    assert loha["lora"]["tuner"] == "loha" and loha["lora"]["use_dora"] is False
    assert apply_method(loha, "lora") == to_dict(TrainJob())


def test_a_combination_is_no_single_method():
    data = to_dict(TrainJob())
    data["lora"].update(use_dora=True, use_rslora=True)
    assert detect_method(data) is None
    data = to_dict(TrainJob())
    data["model"]["quantization"] = "8bit"
    assert detect_method(data) is None


def test_an_unknown_method_or_tuner_is_refused():
    with pytest.raises(KeyError, match="unknown method"):
        apply_method({}, "lorax")
    with pytest.raises(JobError, match="lora.tuner must be one of lora, loha, lokr, vera, adalora, oft, got 'ia3'"):
        job_from_dict({"lora": {"tuner": "ia3"}})


@pytest.mark.parametrize(("lora", "quantization", "label"), [
    ({"tuner": "loha"}, "none", "loha"),
    ({"tuner": "vera"}, "4bit", "vera+4bit"),
    ({"tuner": "adalora"}, "8bit", "adalora+8bit"),
    ({"tuner": "oft"}, "none", "oft"),
])
def test_a_tuner_names_its_label(lora, quantization, label):
    assert LoraSettings(**lora).method_label(quantization) == label


def test_an_imported_adapter_is_labelled_by_the_same_rule():
    assert methods.peft_config_label({"peft_type": "LORA", "use_dora": True, "use_rslora": True}) == "lora+dora+rslora"
    assert methods.peft_config_label({"peft_type": "LOKR", "r": 4}) == "lokr"
    assert methods.peft_config_label({"peft_type": "IA3"}) == "ia3"  # one the app does not train
    assert methods.settings_from_peft({"peft_type": "ADALORA", "target_r": 6, "init_r": 9}) == {
        "tuner": "adalora", "r": 6}


@pytest.mark.parametrize("variant", ["dora", "rslora", "pissa", "olora", "loraplus"])
@pytest.mark.parametrize("other", NEW_TUNERS)
def test_lora_variants_are_refused_with_another_tuner(variant, other):
    data = apply_method(to_dict(TrainJob()), variant)
    data["lora"]["tuner"] = other
    with pytest.raises(JobError) as caught:
        job_from_dict(data)
    assert f"{variant} is a LoRA variant: it can't be used with lora.tuner '{other}'" in str(caught.value)


@pytest.mark.parametrize("name", TUNERS)
@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_quantization_is_refused_where_peft_has_no_quantized_layers(name, quantization):
    data = {"model": {"quantization": quantization}, "lora": {"tuner": name}}
    if quantization in methods.tuner(name).quantization:
        assert job_from_dict(data).lora.tuner == name
        return
    with pytest.raises(JobError) as caught:
        job_from_dict(data)
    assert f"model.quantization {name} can't train on a 4-bit base" in str(caught.value)
    assert "set model.quantization to none or 8bit" in str(caught.value)


def test_what_peft_can_do_per_tuner():
    """The records' claims, checked against peft 0.21 by tests/engine/test_tuners.py (merging)
    and on an H200 (quantized bases, scripts/check_tuners_gpu.py; docs/benchmarks.md)."""
    assert [n for n in TUNERS if "4bit" not in methods.tuner(n).quantization] == ["loha", "lokr"]
    assert all("8bit" in methods.tuner(n).quantization for n in TUNERS)
    assert [n for n in TUNERS if methods.tuner(n).combines] == ["lora"]
    assert all(methods.tuner(n).exports for n in TUNERS)


@pytest.mark.parametrize("name", NEW_TUNERS)
def test_fast_path_switches_the_record_does_not_allow_are_refused_when_forced(name):
    assert job_from_dict({"lora": {"tuner": name}, "training": {"compile": "auto", "cuda_graphs": "auto"}})
    for switch in ("compile", "cuda_graphs"):
        with pytest.raises(JobError, match=f"training.{switch} .* was never checked with"):
            job_from_dict({"lora": {"tuner": name}, "training": {switch: "on"}})


@pytest.mark.parametrize(("lora", "refused"), [
    ({"init": "pissa"}, True), ({"init": "olora"}, True), ({"tuner": "vera"}, True), ({"tuner": "adalora"}, True),
    ({"tuner": "loha"}, False), ({}, False)])
def test_fsdp_is_refused_for_what_it_cannot_shard(lora, refused):
    data = {"lora": lora, "distributed": {"strategy": "fsdp", "gpus": [0, 1]}}
    if not refused:
        assert job_from_dict(data)
        return
    with pytest.raises(JobError, match="distributed.strategy fsdp can't train"):
        job_from_dict(data)


@pytest.mark.parametrize("name", TUNERS)
def test_the_tuner_survives_the_json_and_toml_round_trip(name, tmp_path):
    job = job_from_dict(apply_method(to_dict(TrainJob()), name))
    for suffix, text in ((".json", json.dumps(to_dict(job))), (".toml", job_toml.dumps(to_dict(job)))):
        path = tmp_path / f"job{suffix}"
        path.write_text(text, encoding="utf-8")
        assert load_job(path) == job


def test_a_job_file_from_before_tuners_loads_as_lora(tmp_path):
    data = to_dict(TrainJob())
    del data["lora"]["tuner"]
    path = tmp_path / "old.toml"
    path.write_text(job_toml.dumps(data), encoding="utf-8")
    job = load_job(path)
    assert job.lora.tuner == "lora" and job == TrainJob()
    assert dataclasses.asdict(job.lora)["tuner"] == "lora"


def test_resuming_a_tuner_that_cannot_reload_its_checkpoint_is_refused():
    assert [n for n in TUNERS if not methods.tuner(n).resumes] == ["adalora"]
    with pytest.raises(JobError, match="training.resume_from AdaLoRA runs can't resume .* lora.continue_from"):
        job_from_dict({"lora": {"tuner": "adalora"}, "training": {"resume_from": "latest"}})
