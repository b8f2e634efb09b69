"""``output.save_merged``: the run folder gets the merged model beside the adapter, checked
against base + adapter like an export; a stopped run skips it with a warning."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
from worker_harness import LiveWorker, tiny_job

from studio.core import protocol

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)


def test_a_finished_run_saves_the_merged_model_that_equals_base_plus_adapter(tiny_model_dir, tmp_path):
    job = tiny_job(tiny_model_dir, training={"max_steps": 3})
    job["output"] = {"save_merged": True, "add_to_library": False}
    worker = LiveWorker(job, tmp_path / "run")
    assert worker.finish() == protocol.EXIT_OK
    done = worker.of(protocol.Done)[-1]
    merged = tmp_path / "run" / "merged"
    assert done.outputs["merged_path"] == str(merged)
    assert sorted(p.name for p in merged.glob("*.safetensors")) and (merged / "tokenizer.json").exists()
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    with torch.no_grad():
        want = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                         tmp_path / "run" / "adapter").eval()(input_ids=ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged).eval()(input_ids=ids).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert not [w for w in worker.of(protocol.Warning) if "merged" in w.message]


def test_without_it_nothing_is_merged(tiny_model_dir, tmp_path):
    worker = LiveWorker(tiny_job(tiny_model_dir, training={"max_steps": 2}), tmp_path / "run")
    assert worker.finish() == protocol.EXIT_OK
    assert not (tmp_path / "run" / "merged").exists()
    assert "merged_path" not in worker.of(protocol.Done)[-1].outputs
