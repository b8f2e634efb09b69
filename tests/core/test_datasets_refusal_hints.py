"""No format advice after a refusal that no format escapes (issue 20).

Rows with images, audio or video are refused whatever format they are read as. When a file of
them is checked as the wrong format, offering "the columns look like messages: add --format
messages" only leads to the same refusal; a plain table read as the wrong format still gets it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.datasets.job_check import check_job_dataset
from studio.core.datasets.readers import RawRecord
from studio.core.datasets.refusals import format_hint, refused_in_every_format
from studio.core.jobs import DatasetSettings

CHAT = [{"role": "user", "content": "<image>What is this?"}, {"role": "assistant", "content": "A cat."}]
VISION = {  # each refused as any format
    "images column": {"messages": CHAT, "images": ["cat.png"]},
    "audios column": {"messages": CHAT, "audios": ["purr.wav"]},
    "sharegpt with images": {"conversations": [{"from": "human", "value": "<image>What is this?"},
                                               {"from": "gpt", "value": "A cat."}], "image": "cat.png"},
    "an image part": {"messages": [{"role": "user", "content": [{"type": "image", "image": "cat.png"},
                                                                 {"type": "text", "text": "What is this?"}]},
                                   {"role": "assistant", "content": "A cat."}]},
    "another table name": {"dialog": CHAT, "images": ["cat.png"]},
}


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("shape", list(VISION))
@pytest.mark.parametrize("format", ["messages", "sharegpt", "alpaca"])
def test_a_multimodal_file_read_as_any_format_gets_no_format_advice(tmp_path, shape, format):
    path = write(tmp_path / "vision.jsonl", [VISION[shape]] * 3)
    check = check_job_dataset(DatasetSettings(path=str(path), format=format), whole_file_bytes=1 << 20)
    assert not check.ok
    assert check.guess is None  # the CLI and the Train page would offer --format/--map from it
    said = " ".join(str(issue) for issue in check.issues)
    assert "choose the right format or column mapping" not in said


def test_a_plain_table_read_as_the_wrong_format_still_gets_the_advice(tmp_path):
    chats = write(tmp_path / "chats.jsonl", [{"messages": CHAT}] * 3)
    check = check_job_dataset(DatasetSettings(path=str(chats), format="sharegpt"), whole_file_bytes=1 << 20)
    assert check.guess is not None and (check.guess.format, check.guess.mapping) == ("messages", {})
    assert "choose the right format or column mapping" in str(check.issues[0])
    renamed = write(tmp_path / "dialog.jsonl", [{"dialog": CHAT}] * 3)
    check = check_job_dataset(DatasetSettings(path=str(renamed), format="messages"), whole_file_bytes=1 << 20)
    assert check.guess is not None and check.guess.as_option() == "messages=dialog"


def test_some_multimodal_rows_among_text_ones_keep_the_advice():
    rows = [RawRecord(1, "line", {"messages": CHAT}), RawRecord(2, "line", VISION["images column"])]
    guess = format_hint(["messages", "images"], "sharegpt", rows)
    assert guess is not None and guess.format == "messages"  # the text rows train as messages
    assert format_hint(["messages", "images"], "sharegpt", rows[1:]) is None


def test_what_counts_as_refused_in_every_format():
    assert all(refused_in_every_format(row) for row in VISION.values())
    assert not refused_in_every_format({"messages": CHAT, "images": []})  # an empty column drops nothing
    assert not refused_in_every_format({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    assert not refused_in_every_format("a paragraph of a .txt file")
