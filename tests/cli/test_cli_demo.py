"""`lora-studio demo` end to end on the bundled model (slow: a 135M model on the CPU)."""

from __future__ import annotations

import json

import pytest
import torch
from cli_support import run_cli
from peft import PeftModel
from transformers import AutoModelForCausalLM

from studio.core import runs

pytestmark = pytest.mark.slow


def test_demo_trains_answers_and_leaves_a_plain_peft_adapter(bundled_model, studio_home):
    result = run_cli("demo", "--steps", "4", timeout=600)
    assert result.returncode == 0, result.output
    out = result.flat
    for text in ("1/2 training", "2/2 the same held-out prompts", "What is the capital of Norway?",
                 "peft.PeftModel.from_pretrained"):
        assert text in out
    demo_runs = [r for r in runs.list_runs() if r.method != "generate"]
    assert len(demo_runs) == 1 and demo_runs[0].status == "done" and demo_runs[0].step == 4
    adapter = demo_runs[0].path / "adapter"
    card = json.loads((adapter / "card.json").read_text())
    assert card["name"] == "captain-lora-demo"
    base = AutoModelForCausalLM.from_pretrained(card["base_model"]["hf_folder"])
    model = PeftModel.from_pretrained(base, adapter)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        tuned = model(input_ids=ids).logits
        with model.disable_adapter():
            plain = model(input_ids=ids).logits
    assert not torch.allclose(tuned, plain)  # the loaded adapter really acts
    answers = [r for r in runs.list_runs() if r.method == "generate"]
    assert len(answers) == 1 and answers[0].status == "done"
    samples = answers[0].outputs["answers"]
    assert {s["adapter"] for s in samples} == {"base", str(adapter)}
    assert len(samples) == 12
