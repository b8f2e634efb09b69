"""Tool calls, reasoning, weights, and the rows we refuse: files of the shapes other tools
write (LLaMA-Factory's sharegpt with function_call/observation, OpenAI chat with
tool_calls and weight), read into the right messages and trained on the right tokens."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from studio.core.chat_segments import (
    FALLBACK_CHAT_TEMPLATE,
    call_text,
    example_segments,
    generation_prompt,
    prompt_and_reply,
    render_chat,
)
from studio.core.datasets import DatasetError, Example, load_dataset_file, load_job_dataset
from studio.core.datasets.formats import ToolCall

WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}

# A Hermes-style template with tool support, written for these tests.
TOOL_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n{% if messages[0].role == 'system' %}{{ messages[0].content }}\n{% endif %}"
    "# Tools\n{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}<|im_end|>\n"
    "{%- elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'system' %}"
    "{%- elif message.role == 'assistant' %}<|im_start|>assistant\n{% if message.reasoning_content %}<think>"
    "{{ message.reasoning_content }}</think>{% endif %}{{ message.content or '' }}"
    "{% for call in message.tool_calls or [] %}<tool_call>{{ call.function | tojson }}</tool_call>{% endfor %}"
    "<|im_end|>\n"
    "{%- else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{%- endif %}"
    "{%- endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA2 = ("{% for message in messages %}{% if message['role'] not in ['system', 'user', 'assistant'] %}"
          "{{ raise_exception('Only user, assistant and system roles are supported') }}{% endif %}"
          "{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]{% elif message['role'] == "
          "'assistant' %} {{ message['content'] }}</s>{% else %}<<SYS>>{{ message['content'] }}<</SYS>>{% endif %}"
          "{% endfor %}")


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def renderer(template: str):
    def render(messages, generation_prompt, tools=None):
        return render_chat(template, messages, generation_prompt, tools=tools, eos_token="</s>")
    return render


def trained_text(example, template: str) -> list[str]:
    return [text for text, trained in example_segments(example, renderer(template), "", template) if trained]


SHAREGPT_TOOLS = {
    "conversations": [
        {"from": "human", "value": "Weather in Oslo?"},
        {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}})},
        {"from": "observation", "value": json.dumps({"sky": "rain"})},
        {"from": "gpt", "value": "It rains in Oslo."},
    ],
    "tools": json.dumps([WEATHER]),  # LLaMA-Factory stores the list as a JSON string
}
OPENAI_TOOLS = {
    "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "rain"},
        {"role": "tool", "tool_call_id": "c2", "content": "sun"},
        {"role": "assistant", "content": "Oslo: rain. Rome: sun."},
    ],
    "tools": [{"type": "function", "function": WEATHER}],
}


def test_sharegpt_function_calls_and_observations_read_as_tool_use(tmp_path):
    loaded = load_dataset_file(write_jsonl(tmp_path / "glaive.jsonl", [SHAREGPT_TOOLS] * 3))
    assert (loaded.format, len(loaded.examples), loaded.issues) == ("sharegpt", 3, [])
    messages = loaded.examples[0].messages
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1].tool_calls == (ToolCall("get_weather", {"city": "Oslo"}),)
    assert loaded.examples[0].tools == ({"type": "function", "function": WEATHER},)


def test_openai_tool_calls_with_null_content_and_parallel_results(tmp_path):
    loaded = load_dataset_file(write_jsonl(tmp_path / "openai.jsonl", [OPENAI_TOOLS]))
    messages = loaded.examples[0].messages
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert [c.arguments["city"] for c in messages[2].tool_calls] == ["Oslo", "Rome"]
    assert (messages[3].name, messages[2].content) == ("c1", "")


def test_a_tool_conversations_loss_covers_the_calls_and_answers_only(tmp_path):
    example = load_dataset_file(write_jsonl(tmp_path / "openai.jsonl", [OPENAI_TOOLS])).examples[0]
    segments = example_segments(example, renderer(TOOL_TEMPLATE), "", TOOL_TEMPLATE)
    whole = "".join(text for text, _ in segments)
    assert '"name": "get_weather"' in whole.split("<|im_start|>user")[0]  # the definitions, in the system turn
    trained = [text for text, trained in segments if trained]
    assert len(trained) == 2
    assert trained[0].count("<tool_call>") == 2 and "Oslo" in trained[0] and "Rome" in trained[0]
    assert trained[1].rstrip("\n") == "Oslo: rain. Rome: sun.<|im_end|>"
    untrained = "".join(text for text, t in segments if not t)
    assert "rain<|im_end|>" in untrained and "sun<|im_end|>" in untrained  # tool results: never trained


def test_a_template_without_tool_support_gets_the_calls_written_out(tmp_path):
    example = load_dataset_file(write_jsonl(tmp_path / "glaive.jsonl", [SHAREGPT_TOOLS])).examples[0]
    segments = example_segments(example, renderer(CHATML), "", CHATML)
    whole = "".join(text for text, _ in segments)
    assert whole.startswith("<|im_start|>system\nYou can call these tools.") and "<tools>\n{" in whole
    assert [t for t, trained in segments if trained] == [
        call_text("get_weather", {"city": "Oslo"}) + "<|im_end|>\n", "It rains in Oslo.<|im_end|>\n"]
    assert '<|im_start|>tool\n<tool_response>\n{"sky": "rain"}\n</tool_response>' in whole
    # The app's own fallback template renders it the same way.
    fallback = example_segments(example, renderer(FALLBACK_CHAT_TEMPLATE), "", FALLBACK_CHAT_TEMPLATE)
    assert [t for t, trained in fallback if trained][0].startswith(call_text("get_weather", {"city": "Oslo"}))


def test_a_template_that_refuses_a_tool_role_gets_results_as_user_turns(tmp_path):
    example = load_dataset_file(write_jsonl(tmp_path / "openai.jsonl", [OPENAI_TOOLS])).examples[0]
    segments = example_segments(example, renderer(LLAMA2), "", LLAMA2)
    whole = "".join(text for text, _ in segments)
    assert "[INST] <tool_response>\nrain\n</tool_response>\n<tool_response>\nsun\n</tool_response> [/INST]" in whole
    assert [t for t, trained in segments if trained][-1] == " Oslo: rain. Rome: sun.</s>"


def test_weight_zero_turns_are_context_only(tmp_path):
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Bad reply", "weight": 0},
                        {"role": "user", "content": "Again"},
                        {"role": "assistant", "content": "Good reply", "loss_weight": 1}]}
    example = load_dataset_file(write_jsonl(tmp_path / "w.jsonl", [row])).examples[0]
    assert [m.train for m in example.messages] == [None, False, None, True]
    assert trained_text(example, CHATML) == ["Good reply<|im_end|>\n"]


@pytest.mark.parametrize(("weight", "match"), [(0.5, "must be 0"), ("1", "must be 0")])
def test_a_partial_weight_is_refused(tmp_path, weight, match):
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "x", "weight": weight}]}
    with pytest.raises(DatasetError, match=match):
        load_dataset_file(write_jsonl(tmp_path / "w.jsonl", [row]), on_error="raise")


def test_every_turn_weighted_zero_has_nothing_to_learn(tmp_path):
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "x", "weight": 0}]}
    with pytest.raises(DatasetError, match="weight 0"):
        load_dataset_file(write_jsonl(tmp_path / "w.jsonl", [row]))


def test_reasoning_parts_and_fields_reach_the_template_or_the_text(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "2+2?"},
                          {"role": "assistant", "content": [{"type": "reasoning", "text": "two and two"},
                                                            {"type": "text", "text": "4"}]}]},
            {"messages": [{"role": "user", "content": "3+3?"},
                          {"role": "assistant", "content": "6", "reasoning_content": "three twice"}]}]
    first, second = load_dataset_file(write_jsonl(tmp_path / "r.jsonl", rows)).examples
    assert (first.messages[1].reasoning, first.messages[1].content) == ("two and two", "4")
    assert [t.rstrip("\n") for t in trained_text(second, TOOL_TEMPLATE)] == ["<think>three twice</think>6<|im_end|>"]
    assert trained_text(first, CHATML) == ["<think>\ntwo and two\n</think>\n\n4<|im_end|>\n"]


def test_a_typed_tool_call_part_is_a_call(tmp_path):
    row = {"messages": [{"role": "user", "content": "Oslo?"},
                        {"role": "assistant", "content": [{"type": "tool_call", "name": "get_weather",
                                                           "arguments": {"city": "Oslo"}}]},
                        {"role": "tool", "content": "rain"}, {"role": "assistant", "content": "Rain."}]}
    example = load_dataset_file(write_jsonl(tmp_path / "p.jsonl", [row])).examples[0]
    assert example.messages[1].tool_calls == (ToolCall("get_weather", {"city": "Oslo"}),)


@pytest.mark.parametrize(("row", "field", "words"), [
    ({"messages": [{"role": "user", "content": [{"type": "text", "value": "hi"}]},
                   {"role": "assistant", "content": "yo"}]}, "messages[0].content[0].text", "this one has 'value'"),
    ({"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": None, "tool_calls": [{"function": {"arguments": "{}"}}]}]},
     "messages[1].tool_calls[0].name", "needs the tool's name"),
    ({"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"function": {"name": "f", "arguments": "{oops"}}]}]},
     "messages[1].tool_calls[0].arguments", "does not parse"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}]},
     "messages[1].content", "empty assistant turn"),
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "function_call", "value": "[1]"}]},
     "conversations[1].value[0]", "tool call object"),
])
def test_tool_mistakes_name_the_field(tmp_path, row, field, words):
    with pytest.raises(DatasetError) as caught:
        load_dataset_file(write_jsonl(tmp_path / "bad.jsonl", [row]))
    assert caught.value.field == field and words in caught.value.reason


@pytest.mark.parametrize(("row", "words"), [
    ({"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}, "this is preference data"),
    ({"conversations": [{"from": "human", "value": "Hi"}], "chosen": {"from": "gpt", "value": "a"},
      "rejected": {"from": "gpt", "value": "b"}}, "this is preference data"),
    ({"prompt": "Hi", "completion": "Go away.", "label": False}, "labelled desirable (true) or undesirable"),
    ({"messages": [{"role": "user", "content": "<image>What is this?"}, {"role": "assistant", "content": "A cat"}],
      "images": ["cat.png"]}, "text only"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                   {"role": "assistant", "content": "A cat"}]}, "has an 'image_url' part"),
])
def test_rows_sft_would_train_wrongly_are_refused_with_what_to_do(tmp_path, row, words):
    from studio.core.jobs import DatasetSettings

    path = write_jsonl(tmp_path / "refused.jsonl", [row] * 5)
    with pytest.raises(DatasetError) as caught:
        load_job_dataset(DatasetSettings(path=str(path), on_bad_rows="skip"))  # an SFT job: stage "sft"
    assert words in str(caught.value)


def test_kto_rows_labelled_desirable_train_and_the_others_are_listed(tmp_path):
    """Read as prompt/completion (fine-tuning on the desirable replies), the undesirable ones are bad rows."""
    rows = [{"prompt": f"q{i}", "completion": f"a{i}", "label": i % 50 != 49} for i in range(200)]
    loaded = load_dataset_file(write_jsonl(tmp_path / "kto.jsonl", rows), "prompt_completion", on_error="skip",
                               bad_rows_limit=0.05)
    assert (len(loaded.examples), len(loaded.issues)) == (196, 4)
    assert all("undesirable" in issue.reason for issue in loaded.issues)


def test_placeholders_are_filled_from_variables_or_reported(tmp_path):
    rows = [{"instruction": "Who are you?", "output": "I am {{name}}, made by {{author}}."}] * 3
    path = write_jsonl(tmp_path / "identity.jsonl", rows)
    filled = load_dataset_file(path, variables={"name": "Captain Lora", "author": "the crew"})
    assert filled.examples[0].messages[1].content == "I am Captain Lora, made by the crew."
    assert filled.warnings == []
    partly = load_dataset_file(path, variables={"name": "Captain Lora"})
    assert partly.examples[0].messages[1].content == "I am Captain Lora, made by {{author}}."
    assert len(partly.warnings) == 1 and "3 row(s) hold the placeholder {{author}}" in partly.warnings[0]
    assert filled.placeholders == partly.placeholders == ["name", "author"]  # the names a form asks values for


def test_too_many_bad_rows_refuse_the_file_and_a_few_are_skipped(tmp_path):
    good = {"instruction": "q", "output": "a"}
    rows = [good] * 198 + [{"instruction": "q"}] * 2
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert load_dataset_file(path, on_error="skip", bad_rows_limit=0.01).rows_skipped == 2
    with pytest.raises(DatasetError, match=r"3 of 201 rows .*raise dataset.bad_rows_limit"):
        load_dataset_file(write_jsonl(tmp_path / "worse.jsonl", rows + [{"output": "a"}]), on_error="skip",
                          bad_rows_limit=0.01)


def test_an_unknown_table_offers_a_column_mapping(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("question,answer\nWhat is 2+2?,4\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="--map instruction=question,output=answer"):
        load_dataset_file(path)
    mapped = load_dataset_file(path, columns={"instruction": "question", "output": "answer"})
    assert mapped.format == "alpaca" and mapped.examples[0].messages[1].content == "4"


def test_the_shipped_tool_sample_reads_cleanly():
    from studio.core.resources import SAMPLE_DIR

    loaded = load_dataset_file(SAMPLE_DIR / "captain_lora.tools.jsonl")
    assert loaded.issues == [] and sum(e.uses_tools for e in loaded.examples) == len(loaded.examples)
    assert sum(any(m.tool_calls for m in e.messages) for e in loaded.examples) >= 150


@pytest.mark.parametrize("template", [TOOL_TEMPLATE, CHATML, LLAMA2], ids=["tool-support", "fallback", "no-tool-role"])
def test_a_prompt_is_asked_as_training_wrote_it(tmp_path, template):
    """The prompt before the last reply and that reply are exactly the training render split at
    the reply: tools, calls and results are where training put them, whatever the template."""
    example = load_dataset_file(write_jsonl(tmp_path / "openai.jsonl", [OPENAI_TOOLS])).examples[0]
    render = renderer(template)
    whole = "".join(text for text, _ in example_segments(example, render, "", template))
    prompt, reply = prompt_and_reply(example, render, template)
    assert prompt + reply == whole and reply.startswith(" Oslo: rain." if template == LLAMA2 else "Oslo: rain.")
    assert "get_weather" in prompt.split("Weather in Oslo")[0]  # the definitions come before the question
    asked = replace(example, messages=example.messages[:2])  # the question alone, as a user would ask it
    first_call = replace(example, messages=example.messages[:3])
    call_prompt, call_reply = prompt_and_reply(first_call, render, template)
    assert generation_prompt(asked, render, template) == call_prompt
    assert call_reply.count("get_weather") == 2 and call_reply in whole

def test_a_completion_is_prompted_raw_and_text_has_no_reply():
    completion = Example(kind="completion", prompt="2+2=", completion="4")
    assert prompt_and_reply(completion, renderer(CHATML)) == ("2+2=", "4")
    assert generation_prompt(completion, renderer(CHATML)) == "2+2="
    assert prompt_and_reply(Example(kind="text", text="t"), renderer(CHATML)) is None
