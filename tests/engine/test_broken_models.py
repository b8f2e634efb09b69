"""Broken or hostile model folders fail before loading, with the file named: a broken
config.json, a missing shard, a truncated safetensors file, pickle-only weights (refused
unless allowed for that model), and remote code (a warning when the user allows it)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers import Recorder, tiny_job
from safetensors.torch import load_file, save_file

from studio.core import protocol
from studio.core.models import ModelError
from studio.engine.control import JobControl
from studio.engine.training import train


def broken_copy(tiny_model_dir, tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(tiny_model_dir, folder)
    return folder


def run(folder, tmp_path, **model):
    job = tiny_job(folder, model=model, training={"max_steps": 1})
    recorder = Recorder()
    train(job, tmp_path / "run", recorder, JobControl())
    return recorder


def test_broken_config_names_the_line(tiny_model_dir, tmp_path):
    folder = broken_copy(tiny_model_dir, tmp_path, "bad-config")
    (folder / "config.json").write_text('{"model_type": "llama",\n  oops}')
    with pytest.raises(ModelError, match=r"config.json: invalid JSON at line 2"):
        run(folder, tmp_path)


def test_truncated_weights_are_named(tiny_model_dir, tmp_path):
    folder = broken_copy(tiny_model_dir, tmp_path, "truncated")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelError, match=r"model.safetensors: truncated \(incomplete download\?\)"):
        run(folder, tmp_path)


def test_a_missing_shard_is_named(tiny_model_dir, tmp_path):
    folder = broken_copy(tiny_model_dir, tmp_path, "sharded")
    tensors = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    names = sorted(tensors)
    half = len(names) // 2
    save_file({k: tensors[k] for k in names[:half]}, folder / "model-00001-of-00002.safetensors")
    weight_map = {k: "model-00001-of-00002.safetensors" for k in names[:half]}
    weight_map.update({k: "model-00002-of-00002.safetensors" for k in names[half:]})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    with pytest.raises(ModelError, match="missing .*model-00002-of-00002.safetensors"):
        run(folder, tmp_path)


def test_pickle_weights_are_refused_unless_allowed_for_that_model(tiny_model_dir, tmp_path):
    folder = broken_copy(tiny_model_dir, tmp_path, "pickled")
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="pickle files only .*pytorch_model.bin.*model.allow_pickle"):
        run(folder, tmp_path)
    recorder = run(folder, tmp_path, allow_pickle=True)
    assert recorder.of(protocol.Step)


def test_remote_code_is_off_unless_ticked_and_then_warned_about(tiny_model_dir, tmp_path):
    quiet = run(tiny_model_dir, tmp_path)
    assert not [w for w in quiet.of(protocol.Warning) if "trust_remote_code" in w.message]
    warned = run(tiny_model_dir, tmp_path / "second", trust_remote_code=True)
    assert any("trust_remote_code is on" in w.message for w in warned.of(protocol.Warning))


def test_a_model_that_ships_code_is_refused_naming_the_setting(tiny_model_dir, tmp_path):
    folder = broken_copy(tiny_model_dir, tmp_path, "remote-code")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="odd_llama", auto_map={"AutoConfig": "configuration_odd.OddConfig",
                                                    "AutoModelForCausalLM": "modeling_odd.OddForCausalLM"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_odd.py").write_text("raise SystemExit('remote code ran')\n")
    (folder / "modeling_odd.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(Exception, match=r"model.trust_remote_code = true") as refused:
        run(folder, tmp_path)
    assert "trust_remote_code=True" not in str(refused.value)  # transformers' argument, not our setting
