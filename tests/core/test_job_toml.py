"""The TOML writer: what it writes, tomllib reads back unchanged."""

from __future__ import annotations

import math
import sys

import pytest

from studio.core import job_toml
from studio.core.job_schema import load_job, to_dict
from studio.core.jobs import GenerateJob, TrainJob
from studio.core.methods import apply_method

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@pytest.mark.parametrize("job", [TrainJob(), GenerateJob(prompts=["Hi", "Who are you?"])])
def test_every_job_round_trips(job):
    data = to_dict(job)
    assert tomllib.loads(job_toml.dumps(data)) == data


def test_awkward_strings_keys_and_numbers_round_trip():
    data = to_dict(TrainJob())
    data["training"]["sample_prompt"] = 'say "hi"\\ \n\ttab \x01 \x7f ünï 🙂'
    data["training"]["learning_rate"] = 1.5e-5
    data["lora"]["target_modules"] = ["q_proj", "attn.c_proj"]
    data["extra"] = {"needs quoting": 1, "nested": {"deeper": [1, 2.5, True]}}
    assert tomllib.loads(job_toml.dumps(data)) == data
    back = tomllib.loads(job_toml.dumps({"x": math.inf, "y": -math.inf}))
    assert back == {"x": math.inf, "y": -math.inf}


def test_a_written_toml_job_loads(tmp_path):
    data = apply_method(to_dict(TrainJob()), "dora")
    data["lora"]["r"] = 8
    path = tmp_path / "job.toml"
    path.write_text(job_toml.dumps(data), encoding="utf-8")
    assert to_dict(load_job(path)) == data


def test_what_toml_cannot_hold_is_refused():
    with pytest.raises(TypeError):
        job_toml.dumps({"x": None})
    with pytest.raises(TypeError):
        job_toml.dumps({"x": [{"a": 1}]})
