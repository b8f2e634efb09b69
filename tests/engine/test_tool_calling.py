"""A tool-calling adapter, trained on the bundled model with the shipped tool-use sample,
calls the right tool for a city it never saw (slow: a 135M model on the CPU)."""

from __future__ import annotations

import json
import re

import pytest
from helpers import Recorder

from studio.core import protocol
from studio.core.chat_segments import TemplateSupport, template_messages
from studio.core.datasets import Example, Message, load_dataset_file
from studio.core.job_schema import job_from_dict
from studio.core.resources import SAMPLE_DIR
from studio.engine.control import JobControl
from studio.engine.data_prep import template_text
from studio.engine.training import train

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SAMPLE = SAMPLE_DIR / "captain_lora.tools.jsonl"


def test_an_adapter_trained_on_tool_use_emits_a_well_formed_call(bundled_model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    job = job_from_dict({
        "dataset": {"path": str(SAMPLE), "eval_fraction": 0.0},
        "lora": {"r": 16, "alpha": 32},
        "training": {"max_steps": 30, "batch_size": 8, "learning_rate": 2e-3, "max_length": 320,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant", "device": "cpu"},
        "output": {"add_to_library": False},
    })
    recorder = Recorder()
    train(job, tmp_path, recorder, JobControl())
    notes = [w.message for w in recorder.of(protocol.Warning)]
    assert any("no tool support" in note for note in notes), notes  # SmolLM2's template: written out, and said

    tokenizer = AutoTokenizer.from_pretrained(bundled_model)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(bundled_model), tmp_path / "adapter")
    tools = load_dataset_file(SAMPLE).examples[0].tools
    asked = Example(kind="chat", messages=(Message("user", "What's the weather in Lisbon?"),), tools=tools)
    messages, template_tools, _ = template_messages(asked, TemplateSupport.of(template_text(tokenizer)))
    ids = tokenizer.apply_chat_template(messages, tools=template_tools, add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(input_ids=ids, max_new_tokens=40, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    reply = tokenizer.decode(out[0][ids.shape[1]:], skip_special_tokens=True)
    found = re.search(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", reply, re.S)
    assert found, reply
    assert json.loads(found.group(1)) == {"name": "get_weather", "arguments": {"city": "Lisbon"}}, reply
