"""``datasets inspect`` on each shape of data people have (issue 20): tool use in sharegpt and OpenAI
form, a multimodal row, a ``save_to_disk`` folder, a folder of parquet shards, an ``.arrow`` file,
a ``.json`` holding JSON Lines and a raw ``.txt`` corpus; each written here by the test, each read
with the right format and counts, or refused with what to do. In-process, no worker."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from cli_support import Result

from studio.cli.main import main
from studio.core import protocol

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ALPACA = [{"instruction": f"Name sea {i}.", "input": "", "output": f"Sea {i}, matey."} for i in range(9)]
WEATHER_TOOL = {"name": "get_weather", "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def cli(*argv: str | Path) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_as(result: Result, format: str, total: int, good: int, bad: int = 0) -> None:
    assert result.returncode == 0, result.output
    assert f"format {format}, {total} rows, {good} good, {bad} bad" in result.words


# --- tool use --------------------------------------------------------------------------------------


def test_sharegpt_tool_calls_show_the_call_the_result_and_the_tools(tmp_path):
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    with_tools = {"conversations": [{"from": "human", "value": "Weather in Paris?"},
                                    {"from": "function_call", "value": json.dumps(call)},
                                    {"from": "observation", "value": '{"temp": 18}'},
                                    {"from": "gpt", "value": "It is 18 C in Paris."}],
                  "tools": json.dumps([WEATHER_TOOL])}
    plain = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Ahoy!"}], "tools": ""}
    result = cli("datasets", "inspect", jsonl(tmp_path / "agent.jsonl", [with_tools, plain, with_tools]))
    read_as(result, "sharegpt", 3, 3)
    assert 'assistant calls get_weather({"city":"Paris"})' in result.stdout  # not an empty "assistant:"
    assert not re.search(r"│ assistant:\s+│", result.stdout) and 'tool result: {"temp": 18}' in result.stdout
    assert result.stdout.count("tools: get_weather") == 2  # once per row that has them, none for the plain one
    assert "assistant: It is 18 C in Paris." in result.stdout


def test_openai_tool_calls_with_null_content_and_reasoning(tmp_path):
    long_args = {"city": "Oslo", "note": "x" * 400}
    row = {"messages": [{"role": "user", "content": "Weather in Oslo?"},
                        {"role": "assistant", "content": None, "reasoning_content": "The user wants the weather. " * 20,
                         "tool_calls": [{"id": "call_1", "type": "function",
                                         "function": {"name": "get_weather", "arguments": json.dumps(long_args)}}]},
                        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 3}'},
                        {"role": "assistant", "content": "3 C in Oslo."}],
           "tools": [{"type": "function", "function": WEATHER_TOOL}]}
    result = cli("datasets", "inspect", jsonl(tmp_path / "openai.jsonl", [row, row]), "--rows", "1")
    read_as(result, "messages", 2, 2)
    assert "tools: get_weather" in result.stdout
    assert 'assistant calls get_weather({"city":"Oslo","note":"xxx' in result.stdout
    call_line = next(line for line in result.stdout.splitlines() if "assistant calls" in line)
    assert "…" in call_line and len(call_line) < 200  # the arguments cut, not 400 characters
    assert "assistant thinking: The user wants the weather." in result.stdout
    assert "tool result (call_1): {\"temp\": 3}" in result.stdout


# --- refused with what to do -------------------------------------------------------------------------


def test_a_multimodal_row_is_refused_naming_the_column_and_no_format_advice(tmp_path):
    row = {"messages": [{"role": "user", "content": "<image>What is this?"}, {"role": "assistant", "content": "A cat."}],
           "images": ["cat.png"]}
    path = jsonl(tmp_path / "vision.jsonl", [row, row])
    for extra in ((), ("--format", "messages")):
        result = cli("datasets", "inspect", path, *extra)
        assert result.returncode == protocol.EXIT_DATA, result.output
        assert "field 'images'" in result.words and "('images' column)" in result.words
        assert "remove multimodal rows or use a text-only dataset" in result.words
        assert "--format messages" not in result.output  # it would only repeat the refusal
        assert "Traceback" not in result.output


# --- files as exporters write them ---------------------------------------------------------------------


def test_a_save_to_disk_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(ALPACA).save_to_disk(folder, num_shards=2)
    read_as(cli("datasets", "inspect", folder), "alpaca", 9, 9)


def test_a_folder_of_parquet_shards(tmp_path):
    folder = tmp_path / "hub" / "data"
    folder.mkdir(parents=True)
    for i in range(3):
        pq.write_table(pa.Table.from_pylist(ALPACA[i * 3 : i * 3 + 3]), folder / f"train-0000{i}-of-00003.parquet")
    result = cli("datasets", "inspect", tmp_path / "hub")
    read_as(result, "alpaca", 9, 9)
    assert "Name sea 0." in result.stdout  # the first shard first


def test_an_arrow_file(tmp_path):
    path = tmp_path / "train.arrow"
    table = pa.Table.from_pylist(ALPACA)
    with pa.OSFile(str(path), "wb") as sink:
        writer = pa.ipc.new_stream(sink, table.schema)
        writer.write_table(table, max_chunksize=4)
        writer.close()
    read_as(cli("datasets", "inspect", path), "alpaca", 9, 9)


def test_a_json_file_holding_json_lines(tmp_path):
    path = tmp_path / "train.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in ALPACA), encoding="utf-8")  # what Dataset.to_json writes
    result = cli("datasets", "inspect", path)
    read_as(result, "alpaca", 9, 9)
    assert "line 1" in result.stdout and "Extra data" not in result.output


def test_a_raw_text_corpus(tmp_path):
    paragraphs = [f"Chapter {i}.\nThe ship sailed on, day {i}, under a grey sky." for i in range(4)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    result = cli("datasets", "inspect", path)
    read_as(result, "text", 4, 4)
    assert "Chapter 3." in result.stdout
