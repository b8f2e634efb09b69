"""Jobs: typed defaults, JSON/TOML files, and validation that names every problem at once."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from studio.core.job_schema import JobError, dumps, job_from_dict, load_job, to_dict, validate
from studio.core.jobs import (
    JOB_KINDS,
    DatasetSettings,
    EvalJob,
    ExportJob,
    GenerateJob,
    LoraSettings,
    MergeJob,
    ModelSettings,
    OutputSettings,
    PreferenceSettings,
    SamplingSettings,
    TrainingSettings,
    TrainJob,
)

SETTINGS_CLASSES = (ModelSettings, DatasetSettings, LoraSettings, TrainingSettings, PreferenceSettings,
                    OutputSettings, SamplingSettings)


def problems(data, source: str = "job") -> str:
    with pytest.raises(JobError) as info:
        job_from_dict(data, source=source)
    return str(info.value)


# -- defaults and files ------------------------------------------------------


def test_defaults_build_a_valid_train_job():
    job = job_from_dict({})
    assert isinstance(job, TrainJob)
    assert job == TrainJob()
    assert validate(job) == []
    assert job.lora.target_modules == ["auto"]


def test_list_defaults_are_not_shared_between_instances():
    a, b = LoraSettings(), LoraSettings()
    a.target_modules.append("q_proj")
    assert b.target_modules == ["auto"]


MINIMAL = {"merge": {"adapters": ["a", "b"], "weights": [0.5, 0.5]}, "export": {"adapter": "a", "output_dir": "out"}}


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_every_kind_round_trips_through_dumps(kind):
    job = job_from_dict({"kind": kind, **MINIMAL.get(kind, {})})
    assert isinstance(job, JOB_KINDS[kind])
    again = job_from_dict(json.loads(dumps(job)))
    assert again == job
    assert to_dict(again) == to_dict(job)


def test_json_job_file_loads_and_round_trips(tmp_path: Path):
    data = {
        "kind": "train",
        "model": {"path": "/models/llama", "quantization": "4bit"},
        "dataset": {"path": "data.jsonl", "format": "messages", "eval_fraction": 0.2},
        "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"], "use_dora": True},
        "training": {"epochs": 2, "learning_rate": 1e-4, "device": "cuda", "optimizer": "paged_adamw_8bit"},
        "output": {"name": "my-adapter"},
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    job = load_job(path)
    assert job.model.quantization == "4bit"
    assert job.lora.r == 8 and job.lora.alpha == 16.0 and isinstance(job.lora.alpha, float)
    assert job.lora.target_modules == ["q_proj", "v_proj"]
    assert job.training.epochs == 2.0
    assert job.output.name == "my-adapter"
    # Untouched fields keep their defaults.
    assert job.training.batch_size == TrainingSettings().batch_size

    path.write_text(dumps(job), encoding="utf-8")
    assert load_job(path) == job


def test_toml_job_file_loads_and_round_trips(tmp_path: Path):
    path = tmp_path / "job.toml"
    path.write_text(
        'kind = "train"\n'
        "[model]\n"
        'path = "bundled"\n'
        "[lora]\n"
        "r = 4\n"
        "alpha = 8\n"
        'target_modules = "q_proj, v_proj , ,k_proj"\n'
        'init = "pissa"\n'
        "[training]\n"
        "max_steps = 10\n"
        'device = "cpu"\n'
        'precision = "fp32"\n',
        encoding="utf-8",
    )
    job = load_job(path)
    assert job.lora.r == 4
    assert job.lora.target_modules == ["q_proj", "v_proj", "k_proj"]
    assert job.lora.init == "pissa"
    assert job.training.max_steps == 10
    assert job_from_dict(json.loads(dumps(job))) == job


def test_other_kinds_load_their_own_fields():
    job = job_from_dict({"kind": "generate", "prompts": ["hi", "who are you?"],
                         "sampling": {"temperature": 0, "top_k": 0}})
    assert isinstance(job, GenerateJob)
    assert job.prompts == ["hi", "who are you?"]
    assert job.sampling.temperature == 0.0
    merge = job_from_dict({"kind": "merge", "adapters": ["a", "b"], "weights": [1, 0.5]})
    assert isinstance(merge, MergeJob) and merge.weights == [1.0, 0.5]
    assert isinstance(job_from_dict({"kind": "eval"}), EvalJob)
    assert isinstance(job_from_dict({"kind": "export", "adapter": "x", "output_dir": "o"}), ExportJob)


# -- validation messages -----------------------------------------------------


def test_negative_rank_names_the_field():
    with pytest.raises(JobError) as info:
        job_from_dict({"lora": {"r": -4}})
    assert "lora.r must be a positive integer, got -4" in str(info.value)
    assert [issue.field for issue in info.value.issues] == ["lora.r"]


def test_every_problem_is_reported_at_once():
    text = problems({
        "lora": {"r": "sixteen", "alpah": 32, "dropout": 1.5},
        "training": {"batch_size": 0, "learning_rate": 2, "epochs": True},
        "dataset": {"eval_fraction": 0.9},
    })
    assert "lora.r must be an integer, got 'sixteen'" in text
    assert "lora.alpah is not a known field; did you mean 'lora.alpha'?" in text
    assert "lora.dropout must be in [0, 1), got 1.5" in text
    assert "training.batch_size must be a positive integer, got 0" in text
    assert "training.learning_rate must be in (0, 1), got 2.0" in text
    assert "training.epochs must be a number, got true" in text
    assert "dataset.eval_fraction must be in [0, 0.5], got 0.9" in text
    assert "7 problem(s)" in text


def test_compile_is_a_switch_and_old_true_false_files_still_load():
    assert job_from_dict({}).training.compile == "auto"
    assert job_from_dict({"training": {"compile": True}}).training.compile == "on"
    # false was the old default (saved in every job file and the Train page's last job): not forced
    assert job_from_dict({"training": {"compile": False}}).training.compile == "auto"
    assert job_from_dict({"training": {"compile": "off"}}).training.compile == "off"
    assert "training.compile must be one of auto, on, off, got 'fast'" in problems({"training": {"compile": "fast"}})


def test_memory_limit_and_offload_are_checked():
    assert "training.memory_limit_gib must be >= 0 GiB" in problems({"training": {"memory_limit_gib": -1}})
    text = problems({"training": {"offload_activations": True}})
    assert "training.offload_activations" in text and "needs training.gradient_checkpointing on" in text
    job = job_from_dict({"training": {"offload_activations": True, "gradient_checkpointing": True,
                                      "memory_limit_gib": 22.5}})
    assert job.training.memory_limit_gib == 22.5 and job.training.offload_activations


def test_wrong_type_is_reported_once_not_again_by_the_range_check():
    with pytest.raises(JobError) as info:
        job_from_dict({"lora": {"r": "8"}})
    assert [issue.field for issue in info.value.issues] == ["lora.r"]


def test_unknown_top_level_field_suggests_the_close_one():
    text = problems({"lroa": {}})
    assert "lroa is not a known field; did you mean 'lora'?" in text


def test_unknown_field_without_a_close_match_lists_the_known_ones():
    text = problems({"output": {"zzzz": 1}})
    assert "output.zzzz is not a known field; known: name, save_merged" in text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"training": {"batch_size": "4"}}, "training.batch_size must be an integer, got '4'"),
        ({"training": {"batch_size": True}}, "training.batch_size must be an integer, got true"),
        ({"training": {"batch_size": 4.0}}, "training.batch_size must be an integer, got 4.0"),
        ({"training": {"learning_rate": "2e-4"}}, "training.learning_rate must be a number, got '2e-4'"),
        ({"training": {"packing": "yes"}}, "training.packing must be true or false, got 'yes'"),
        ({"training": {"packing": 1}}, "training.packing must be true or false, got 1"),
        ({"output": {"name": 3}}, "output.name must be a string, got 3"),
        ({"lora": []}, "lora must be a table/object, got []"),
        ({"lora": "r=8"}, "lora must be a table/object, got 'r=8'"),
        ({"lora": {"target_modules": 5}}, "lora.target_modules must be a list, got 5"),
        ({"lora": {"target_modules": ["q_proj", 7]}}, "lora.target_modules[1] must be a string, got 7"),
        ({"kind": "merge", "weights": [1, "x"]}, "weights[1] must be a number, got 'x'"),
    ],
)
def test_wrong_types_name_the_field(data, expected):
    assert expected in problems(data)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(value):
    # json.loads accepts NaN and Infinity; "alpha > 0" alone would let NaN through.
    text = problems(json.loads('{"lora": {"alpha": ' + value + "}}"))
    assert "lora.alpha must be a finite number" in text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"model": {"quantization": "3bit"}}, "model.quantization must be one of none, 4bit, 8bit, got '3bit'"),
        ({"training": {"precision": "int8"}}, "training.precision must be one of auto, bf16, fp16, fp32"),
        ({"lora": {"init": "loftq"}}, "lora.init must be one of default, gaussian, pissa, olora"),
        ({"dataset": {"format": "xml"}}, "dataset.format must be one of auto, alpaca, sharegpt"),
        ({"training": {"device": "tpu"}}, "training.device must be one of auto, cpu, cuda, got 'tpu'"),
    ],
)
def test_literal_choices(data, expected):
    assert expected in problems(data)


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda"])
def test_literal_accepts_each_choice(value):
    assert job_from_dict({"training": {"device": value}}).training.device == value


def test_comma_separated_target_modules():
    job = job_from_dict({"lora": {"target_modules": "q_proj,k_proj, v_proj"}})
    assert job.lora.target_modules == ["q_proj", "k_proj", "v_proj"]


def test_empty_target_modules_is_rejected():
    assert "lora.target_modules must name at least one module" in problems({"lora": {"target_modules": " , "}})


@pytest.mark.parametrize("kind", ["finetune", 3, None, ["train"], {"a": 1}])
def test_unknown_job_kind(kind):
    text = problems({"kind": kind})
    assert "kind must be one of train, generate, eval, merge, export" in text


def test_non_object_job():
    assert "must be an object, got list" in problems([1, 2])


def test_invalid_json_file_names_the_file(tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text('{"lora": {"r": 8,}}', encoding="utf-8")
    with pytest.raises(JobError) as info:
        load_job(path)
    assert str(path) in str(info.value)
    assert "is not valid json" in str(info.value)


def test_invalid_toml_file_names_the_file(tmp_path: Path):
    path = tmp_path / "broken.toml"
    path.write_text("[lora\nr = 8\n", encoding="utf-8")
    with pytest.raises(JobError) as info:
        load_job(path)
    assert str(path) in str(info.value)
    assert "is not valid toml" in str(info.value)


def test_non_utf8_file_names_the_file(tmp_path: Path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"output": {"name": "caf\xe9"}}')
    with pytest.raises(JobError) as info:
        load_job(path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(tmp_path: Path):
    path = tmp_path / "nope.json"
    with pytest.raises(JobError) as info:
        load_job(path)
    assert f"cannot read {path}" in str(info.value)


def test_toml_date_value_is_a_job_error_not_a_crash(tmp_path: Path):
    # TOML has dates, which JSON can't show; the message must still come out.
    path = tmp_path / "dated.toml"
    path.write_text("[lora]\nr = 1979-05-27\n", encoding="utf-8")
    with pytest.raises(JobError) as info:
        load_job(path)
    assert "lora.r must be an integer, got" in str(info.value)
    assert "1979-05-27" in str(info.value)


# -- combinations ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ({"model": {"quantization": "4bit"}}, "model.quantization", "4bit loading needs a CUDA GPU"),
        ({"model": {"quantization": "8bit"}}, "model.quantization", "8bit loading needs a CUDA GPU"),
        ({"training": {"optimizer": "adamw_8bit"}}, "training.optimizer", "adamw_8bit needs a CUDA GPU"),
        ({"training": {"optimizer": "paged_adamw_8bit"}}, "training.optimizer", "needs a CUDA GPU"),
        ({"training": {"precision": "fp16"}}, "training.precision", "fp16 training needs a GPU"),
    ],
)
def test_cpu_only_combinations_are_rejected(data, field, expected):
    data = json.loads(json.dumps(data))
    data.setdefault("training", {})["device"] = "cpu"
    with pytest.raises(JobError) as info:
        job_from_dict(data)
    assert field in [issue.field for issue in info.value.issues]
    assert expected in str(info.value)
    # The same settings are fine where a GPU may be used.
    data["training"]["device"] = "auto"
    job_from_dict(data)


def test_pissa_needs_a_full_precision_base():
    text = problems({"model": {"quantization": "4bit"}, "lora": {"init": "pissa"}})
    assert "lora.init pissa needs the full-precision weights" in text


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "a\\b", "c:d", "x" * 101])
def test_output_name_must_be_plain(name):
    assert "output.name must be a plain name" in problems({"output": {"name": name}})


@pytest.mark.parametrize("name", ["my-adapter", "captain_lora v2", "x" * 100])
def test_plain_output_names_pass(name):
    assert job_from_dict({"output": {"name": name}}).output.name == name


@pytest.mark.parametrize(
    ("training", "field"),
    [
        ({"max_length": 8}, "training.max_length"),
        ({"max_steps": -1}, "training.max_steps"),
        ({"epochs": 0}, "training.epochs"),
        ({"warmup_ratio": 1.0}, "training.warmup_ratio"),
        ({"weight_decay": -0.1}, "training.weight_decay"),
        ({"save_steps": -5}, "training.save_steps"),
        ({"grad_accum": 0}, "training.grad_accum"),
    ],
)
def test_range_checks_name_the_field(training, field):
    with pytest.raises(JobError) as info:
        job_from_dict({"training": training})
    assert field in [issue.field for issue in info.value.issues]


def test_zero_epochs_is_fine_with_max_steps():
    job = job_from_dict({"training": {"epochs": 0, "max_steps": 5}})
    assert job.training.max_steps == 5


# -- help text and labels ----------------------------------------------------


@pytest.mark.parametrize("cls", SETTINGS_CLASSES, ids=lambda c: c.__name__)
def test_every_settings_field_has_help(cls):
    for f in dataclasses.fields(cls):
        help_text = f.metadata.get("help")
        assert isinstance(help_text, str) and help_text.strip(), f"{cls.__name__}.{f.name} has no help"


@pytest.mark.parametrize("cls", list(JOB_KINDS.values()), ids=lambda c: c.__name__)
def test_every_plain_job_field_has_help(cls):
    for f in dataclasses.fields(cls):
        if f.name == "kind" or f.name in ("model", "dataset", "lora", "training", "preference", "grpo", "distributed",
                                          "output", "sampling"):
            continue
        assert f.metadata.get("help", "").strip(), f"{cls.__name__}.{f.name} has no help"


@pytest.mark.parametrize(
    ("settings", "quantization", "label"),
    [
        ({}, "none", "lora"),
        ({}, "4bit", "qlora"),
        ({}, "8bit", "lora+8bit"),
        ({"use_dora": True}, "none", "lora+dora"),
        ({"use_rslora": True}, "4bit", "qlora+rslora"),
        ({"init": "gaussian"}, "none", "lora"),
        ({"init": "pissa"}, "none", "lora+pissa"),
        ({"init": "olora"}, "8bit", "lora+8bit+olora"),
        ({"loraplus_lr_ratio": 16.0}, "none", "lora+loraplus"),
        ({"use_dora": True, "use_rslora": True, "init": "olora", "loraplus_lr_ratio": 16.0}, "4bit",
         "qlora+dora+rslora+olora+loraplus"),
    ],
)
def test_method_label(settings, quantization, label):
    assert LoraSettings(**settings).method_label(quantization) == label


def test_huge_integer_for_a_float_field_is_rejected_not_a_crash():
    assert "lora.alpha must be a finite number" in problems({"lora": {"alpha": 10**400}})
