"""Every dataset format in every file type it can live in: good files load, bad ones say where.

One table of good rows and one of bad rows per (format, file type); the files
are written to tmp_path by the tests themselves.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from studio.core.datasets import DatasetError, Example, Message, load_dataset_file


def write_rows(path: Path, rows: list[dict]) -> Path:
    """Write `rows` in the file type named by the suffix of `path`."""
    suffix = path.suffix
    if suffix == ".json":
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif suffix == ".csv":
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
    elif suffix == ".parquet":
        # from_pylist takes its columns from the first row; give every row every column.
        columns = list(dict.fromkeys(k for r in rows for k in r))
        pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in columns} for r in rows]), path)
    else:
        raise AssertionError(suffix)
    return path


U, A, S, T = "user", "assistant", "system", "tool"

GOOD: dict[str, tuple[list[dict], list[tuple]]] = {
    # format: (rows, expected (kind, messages, prompt, completion, text) per row)
    "alpaca": (
        [
            {"instruction": "Add 2 and 3.", "input": "", "output": "5"},
            {
                "instruction": "Translate.",
                "input": "chat",
                "output": "cat",
                "system": "You translate French.",
            },
        ],
        [
            ("chat", (Message(U, "Add 2 and 3."), Message(A, "5")), "", "", ""),
            (
                "chat",
                (
                    Message(S, "You translate French."),
                    Message(U, "Translate.\n\nchat"),
                    Message(A, "cat"),
                ),
                "",
                "",
                "",
            ),
        ],
    ),
    "sharegpt": (
        [
            {
                "conversations": [
                    {"from": "human", "value": "Hi"},
                    {"from": "gpt", "value": "Hello!"},
                ]
            },
            {
                "conversations": [
                    {"from": "system", "value": "Be brief."},
                    {"from": "user", "value": "2+2?"},
                    {"from": "model", "value": "4"},
                    {"from": "human", "value": "And 3+3?"},
                    {"from": "assistant", "value": "6"},
                ]
            },
        ],
        [
            ("chat", (Message(U, "Hi"), Message(A, "Hello!")), "", "", ""),
            (
                "chat",
                (
                    Message(S, "Be brief."),
                    Message(U, "2+2?"),
                    Message(A, "4"),
                    Message(U, "And 3+3?"),
                    Message(A, "6"),
                ),
                "",
                "",
                "",
            ),
        ],
    ),
    "messages": (
        [
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                ]
            },
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Part one."},
                            {"type": "text", "text": "Part two."},
                        ],
                    },
                    {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                ]
            },
            {
                "messages": [
                    {"role": "user", "content": "Weather in Oslo?"},
                    {"role": "assistant", "content": "Calling the weather tool."},
                    {"role": "tool", "content": '{"temp": 3}'},
                    {"role": "tool", "content": '{"wind": 5}'},
                    {"role": "assistant", "content": "3 degrees, windy."},
                ]
            },
        ],
        [
            ("chat", (Message(U, "Hi"), Message(A, "Hello!")), "", "", ""),
            (
                "chat",
                (Message(S, "Be brief."), Message(U, "Part one.\nPart two."), Message(A, "ok")),
                "",
                "",
                "",
            ),
            (
                "chat",
                (
                    Message(U, "Weather in Oslo?"),
                    Message(A, "Calling the weather tool."),
                    Message(T, '{"temp": 3}'),
                    Message(T, '{"wind": 5}'),
                    Message(A, "3 degrees, windy."),
                ),
                "",
                "",
                "",
            ),
        ],
    ),
    "prompt_completion": (
        [
            {"prompt": "The capital of France is", "completion": " Paris."},
            {"prompt": "", "completion": "Once upon a time."},
        ],
        [
            ("completion", (), "The capital of France is", " Paris.", ""),
            ("completion", (), "", "Once upon a time.", ""),
        ],
    ),
    "text": (
        [{"text": "Hello world."}, {"text": "Second doc.\nWith two lines."}],
        [
            ("text", (), "", "", "Hello world."),
            ("text", (), "", "", "Second doc.\nWith two lines."),
        ],
    ),
}

FILE_TYPES = {
    "alpaca": [".json", ".jsonl", ".csv", ".parquet"],
    "sharegpt": [".json", ".jsonl", ".parquet"],
    "messages": [".json", ".jsonl"],
    "prompt_completion": [".jsonl", ".csv", ".parquet"],
    "text": [".json", ".jsonl", ".csv", ".parquet"],
}


def first_label(suffix: str, i: int) -> str:
    return {
        ".json": f"row {i}",
        ".parquet": f"row {i}",
        ".jsonl": f"line {i + 1}",
        ".csv": f"line {i + 2}",
    }[suffix]


def flat(example):
    return (example.kind, example.messages, example.prompt, example.completion, example.text)


@pytest.mark.parametrize(
    ("fmt", "suffix"), [(f, s) for f, types in FILE_TYPES.items() for s in types]
)
@pytest.mark.parametrize("given", ["auto", "explicit"])
def test_good_file_loads(tmp_path, fmt, suffix, given):
    rows, expected = GOOD[fmt]
    path = write_rows(tmp_path / f"data{suffix}", rows)
    loaded = load_dataset_file(path, fmt if given == "explicit" else "auto")
    assert loaded.format == fmt
    assert loaded.rows_total == len(rows)
    assert loaded.issues == []
    assert [flat(e) for e in loaded.examples] == expected
    assert [e.source for e in loaded.examples] == [first_label(suffix, i) for i in range(len(rows))]


def test_good_txt_loads_one_example_per_paragraph(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text(
        "Hello world.\n\n\n  \nSecond doc.\nWith two lines.\n\nThird.", encoding="utf-8"
    )
    loaded = load_dataset_file(path)
    assert loaded.format == "text"
    assert [flat(e) for e in loaded.examples] == GOOD["text"][1] + [("text", (), "", "", "Third.")]
    assert [e.source for e in loaded.examples] == ["line 1", "line 5", "line 8"]


# (format, suffix, bad second row, field, phrase in the reason)
BAD = [
    (
        "alpaca",
        ".json",
        {"instruction": "x", "output": ["a", "b"]},
        "output",
        "expected a string, got list",
    ),
    (
        "alpaca",
        ".jsonl",
        {"instruction": 5, "output": "y"},
        "instruction",
        "expected a string, got number",
    ),
    ("alpaca", ".jsonl", {"instruction": "x"}, "output", "missing required field"),
    ("alpaca", ".csv", {"instruction": "x", "input": "", "output": ""}, "output", "is empty"),
    ("alpaca", ".parquet", {"instruction": "x", "input": "", "output": None}, "output", "is null"),
    (
        "sharegpt",
        ".json",
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": 7}]},
        "conversations[1].value",
        "expected a string, got number",
    ),
    (
        "sharegpt",
        ".jsonl",
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "Yo"}]},
        "conversations[1].from",
        "unknown role 'bot'",
    ),
    (
        "sharegpt",
        ".parquet",
        {
            "conversations": [
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Yo"},
                {"from": "gpt", "value": "Again"},
            ]
        },
        "conversations[2].from",
        "two assistant turns in a row",
    ),
    (
        "messages",
        ".jsonl",
        {
            "messages": [
                {"role": "user", "content": [{"type": "image", "url": "x.png"}]},
                {"role": "assistant", "content": "A cat."},
            ]
        },
        "messages[0].content[0].type",
        "has an 'image' part",
    ),
    (
        "messages",
        ".json",
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]},
        "messages[1].content",
        "empty assistant turn",
    ),
    (
        "messages",
        ".jsonl",
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Yo"}]},
        "messages[1].role",
        "unknown role 'robot'",
    ),
    ("prompt_completion", ".jsonl", {"prompt": "Say hi"}, "completion", "missing required field"),
    (
        "prompt_completion",
        ".csv",
        {"prompt": "Say hi", "completion": " "},
        "completion",
        "is empty",
    ),
    (
        "prompt_completion",
        ".parquet",
        {"prompt": "Say hi", "completion": None},
        "completion",
        "is null",
    ),
    ("text", ".jsonl", {"text": 42}, "text", "expected a string, got number"),
    ("text", ".parquet", {"text": ""}, "text", "is empty"),
]


@pytest.mark.parametrize(
    ("fmt", "suffix", "bad", "field", "reason"), BAD, ids=[f"{b[0]}{b[1]}-{b[3]}" for b in BAD]
)
def test_bad_file_names_file_row_and_field(tmp_path, fmt, suffix, bad, field, reason):
    good = GOOD[fmt][0][0]
    path = write_rows(tmp_path / f"bad{suffix}", [good, bad, good])
    with pytest.raises(DatasetError) as info:
        load_dataset_file(path, fmt)
    err = info.value
    where = first_label(suffix, 1)
    assert err.file == str(path)
    assert err.field == field
    assert reason in err.reason
    assert str(err).startswith(f"{path}: {where}, field '{field}': ")  # the whole path, as given
    # Detection is not fooled by the bad row, and skipping keeps the good ones.
    skipped = load_dataset_file(path, on_error="skip")
    assert (skipped.format, len(skipped.examples), skipped.rows_total) == (fmt, 2, 3)
    assert [(i.row, i.field) for i in skipped.issues] == [(where, field)]


def test_bad_txt_names_file_and_line(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"Fine paragraph.\n\nBad \xe9 byte here.\n")
    with pytest.raises(DatasetError) as info:
        load_dataset_file(path)
    assert (info.value.row, info.value.field) == (3, None)
    assert str(info.value).startswith(f"{path}: line 3: not valid UTF-8")


CHAT_RULES = [
    ([("gpt", "Hello")], "conversations[0].from", "must start with a user turn"),
    (
        [("human", "a"), ("human", "b"), ("gpt", "c")],
        "conversations[1].from",
        "two user turns in a row",
    ),
    (
        [("human", "a"), ("gpt", "b"), ("system", "c"), ("human", "d"), ("gpt", "e")],
        "conversations[2].from",
        "only allowed as the first turn",
    ),
    (
        [("human", "a"), ("gpt", "b"), ("human", "c")],
        "conversations[2].from",
        "ends with a user turn",
    ),
    (
        [("human", "a"), ("tool", "b"), ("gpt", "c")],
        "conversations[1].from",
        "tool turn must follow",
    ),
    ([("system", "s"), ("human", "a")], "conversations", "no assistant turn"),
    ([("human", ""), ("gpt", "b")], "conversations[0].value", "empty user turn"),
    ([], "conversations", "conversation is empty"),
]


@pytest.mark.parametrize(("turns", "field", "reason"), CHAT_RULES, ids=[r[2] for r in CHAT_RULES])
def test_chat_rules(tmp_path, turns, field, reason):
    row = {"conversations": [{"from": f, "value": v} for f, v in turns]}
    path = write_rows(tmp_path / "chat.jsonl", [GOOD["sharegpt"][0][0], row])
    with pytest.raises(DatasetError) as info:
        load_dataset_file(path, "sharegpt")
    assert (info.value.row, info.value.field) == (2, field)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ({"conversations": "Hi"}, "conversations", "expected a list, got string"),
        ({"conversations": ["Hi"]}, "conversations[0]", "expected an object"),
        ({"conversations": [{"value": "Hi"}]}, "conversations[0].from", "missing required field"),
        ({"conversations": None}, "conversations", "is null"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content", "got null"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "got missing"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
            "messages[0].content[0].text",
            "expected a string, got number",
        ),
    ],
)
def test_chat_structure_errors(tmp_path, row, field, reason):
    path = write_rows(tmp_path / "chat.jsonl", [row])
    fmt = "sharegpt" if "conversations" in row else "messages"
    with pytest.raises(DatasetError) as info:
        load_dataset_file(path, fmt)
    assert (info.value.row, info.value.field) == (1, field)
    assert reason in info.value.reason


def test_sharegpt_top_level_system_is_prepended(tmp_path):
    row = {
        "system": "Be kind.",
        "conversations": [{"from": "Human", "value": "Hi"}, {"from": "GPT", "value": "Hello"}],
    }
    loaded = load_dataset_file(write_rows(tmp_path / "d.jsonl", [row]))
    assert loaded.examples[0].messages == (
        Message(S, "Be kind."),
        Message(U, "Hi"),
        Message(A, "Hello"),
    )


def test_example_to_dict_is_plain_json(tmp_path):
    loaded = load_dataset_file(write_rows(tmp_path / "d.jsonl", GOOD["alpaca"][0][:1]))
    d = loaded.examples[0].to_dict()
    assert json.loads(json.dumps(d)) == d
    assert [(m["role"], m["content"]) for m in d["messages"]] == [("user", "Add 2 and 3."), ("assistant", "5")]
    assert Example.from_dict(d) == loaded.examples[0]
    assert (d["kind"], d["source"]) == ("chat", "line 1")
