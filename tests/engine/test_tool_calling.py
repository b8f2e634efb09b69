"""A tool-calling adapter, trained on the bundled model with the shipped tool-use sample,
calls the right tool for a city it never saw (slow: a 135M model on the CPU). The base
model, asked the same with the same tool list, answers "Lisbon is the capital of Portugal…"."""

from __future__ import annotations

import json
import re

import pytest
from helpers import Recorder

from studio.core import protocol
from studio.core.datasets import load_dataset_file
from studio.core.job_schema import job_from_dict
from studio.core.jobs import SamplingSettings
from studio.core.resources import SAMPLE_DIR
from studio.engine.control import JobControl
from studio.engine.generation import AdapterSet, answer, chat
from studio.engine.training import train

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SAMPLE = SAMPLE_DIR / "captain_lora.tools.jsonl"


def calls_only(tmp_path) -> str:
    """The sample's weather rows up to the call, with that one tool: the part a call is learnt
    from, short enough to train on two CPU cores in a minute or two."""
    rows = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        calls = row["messages"][1].get("tool_calls") or []
        if calls and calls[0]["function"]["name"] == "get_weather":
            tools = [t for t in row["tools"] if t["function"]["name"] == "get_weather"]
            rows.append({"messages": row["messages"][:2], "tools": tools})
    path = tmp_path / "weather_calls.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_an_adapter_trained_on_tool_use_emits_a_well_formed_call(bundled_model, tmp_path):
    data = calls_only(tmp_path)
    job = job_from_dict({
        "dataset": {"path": data, "eval_fraction": 0.0},
        "lora": {"r": 16, "alpha": 32},
        "training": {"max_steps": 12, "batch_size": 4, "learning_rate": 3e-3, "max_length": 160,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant", "device": "cpu"},
        "output": {"add_to_library": False},
    })
    recorder = Recorder()
    train(job, tmp_path, recorder, JobControl())
    notes = [w.message for w in recorder.of(protocol.Warning)]
    assert any("no tool support" in note for note in notes), notes  # SmolLM2's template: written out, and said

    # Asked through the app's own generation (as the Playground, `generate --tools` and evals ask),
    # which writes the tools in as training wrote them.
    tools = [dict(t) for t in load_dataset_file(data).examples[0].tools]
    asking = job_from_dict({"kind": "generate", "model": {"path": str(bundled_model)}}).model
    adapters = AdapterSet.load(asking, [str(tmp_path / "adapter")], Recorder())
    reply = answer(adapters, str(tmp_path / "adapter"), chat([{"role": "user", "content": "What's the weather in Lisbon?"}],
                   tools), SamplingSettings(max_new_tokens=40, temperature=0.0), Recorder()).text
    found = re.search(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", reply, re.S)
    assert found, reply
    assert json.loads(found.group(1)) == {"name": "get_weather", "arguments": {"city": "Lisbon"}}, reply
