"""The Datasets page's preview shows tool use as ``datasets inspect`` does (issue 20): an assistant
turn that only calls a tool reads as its call, not as an empty "assistant:" line; tool results and
reasoning say what they are; the row's tool definitions are named. Files written the way sharegpt
exporters (function_call/observation) and OpenAI (tool_calls, content null) write them."""

from __future__ import annotations

import json
import re

from test_datasets_page import settle, write_jsonl

from studio.gui.pages.datasets_page import DatasetsPage

WEATHER_TOOL = {"name": "get_weather", "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CALL = 'assistant calls get_weather({"city":"Paris"})'


def open_file(qtbot, state, path) -> DatasetsPage:
    page = DatasetsPage(state)
    qtbot.addWidget(page)
    settle(qtbot, page)
    with qtbot.waitSignal(page.dataset_loaded, timeout=10_000):
        page.open_path(path)
    return settle(qtbot, page)


def cells(page: DatasetsPage) -> tuple[str, str]:
    """The first row's one-line summary and its tooltip (the whole row)."""
    return page.rows.preview_cell(0, 2), page.rows.preview_table.item(0, 2).toolTip()


def test_sharegpt_function_call_and_observation(qtbot, state, tmp_path):
    row = {"conversations": [{"from": "human", "value": "Weather in Paris?"},
                             {"from": "function_call", "value": json.dumps({"name": "get_weather",
                                                                            "arguments": {"city": "Paris"}})},
                             {"from": "observation", "value": '{"temp": 18}'},
                             {"from": "gpt", "value": "It is 18 C in Paris."}],
           "tools": json.dumps([WEATHER_TOOL])}
    page = open_file(qtbot, state, write_jsonl(tmp_path / "agent.jsonl", [row, row]))
    assert page.dataset is not None and page.dataset.format == "sharegpt" and len(page.dataset.examples) == 2
    line, tip = cells(page)
    assert line.startswith("tools: get_weather | user: Weather in Paris?")  # on one line, spaces collapsed
    assert f"{CALL} → tool result: {{\"temp\": 18}} → assistant: It is 18 C in Paris." in line
    assert not re.search(r"assistant:\s*(→|$)", line)  # no empty assistant turn
    assert tip.startswith("tools: get_weather\n\nuser: Weather in Paris?\n\n" + CALL)
    assert "\n\nassistant: It is 18 C in Paris." in tip


def test_openai_tool_calls_with_null_content_reasoning_and_parallel_results(qtbot, state, tmp_path):
    calls = [{"id": f"call_{city}", "type": "function",
              "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}} for city in ("Paris", "Oslo")]
    row = {"messages": [{"role": "user", "content": "Weather in Paris and Oslo?"},
                        {"role": "assistant", "content": None, "tool_calls": calls,
                         "reasoning_content": "The user wants two cities. " * 10},
                        {"role": "tool", "tool_call_id": "call_Paris", "content": '{"temp": 18}'},
                        {"role": "tool", "tool_call_id": "call_Oslo", "content": '{"temp": 3}'},
                        {"role": "assistant", "content": "18 C in Paris, 3 C in Oslo."}],
           "tools": [{"type": "function", "function": WEATHER_TOOL}]}
    page = open_file(qtbot, state, write_jsonl(tmp_path / "openai.jsonl", [row]))
    assert page.dataset is not None and page.dataset.format == "messages"
    line, tip = cells(page)
    assert line.startswith("tools: get_weather | user: Weather in Paris and Oslo? → assistant thinking: The user")
    assert f"… → {CALL} → assistant calls" in line and not re.search(r"assistant:\s*(→|$)", line)
    assert 'tool result (call_Paris): {"temp": 18}\n\ntool result (call_Oslo): {"temp": 3}' in tip
    thinking = next(part for part in tip.split("\n") if part.startswith("assistant thinking: "))
    assert thinking.endswith("…") and len(thinking) == len("assistant thinking: ") + 80  # reasoning cut short
    assert f"{thinking}\n{CALL}\nassistant calls get_weather" in tip  # one turn's lines together
    assert tip.endswith("assistant: 18 C in Paris, 3 C in Oslo.")
