"""``datasets inspect`` offers no ``--format``/``--map`` after a refusal no format escapes (issue 20):
a multimodal file read as the wrong format used to end "the columns look like messages: add
--format messages", and that flag gave the same refusal (exit 3). In-process, no worker."""

from __future__ import annotations

import pytest
from test_inspect_shapes import cli, jsonl

from studio.core import protocol

CHAT = [{"role": "user", "content": "<image>What is this?"}, {"role": "assistant", "content": "A cat."}]


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize("row", [{"messages": CHAT, "images": ["cat.png"]}, {"dialog": CHAT, "audios": ["a.wav"]},
                                 {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]},
                                               {"role": "assistant", "content": "A cat."}]}],
                         ids=["images", "audios-renamed-table", "image-part"])
def test_no_format_advice_that_would_repeat_the_refusal(tmp_path, row):
    path = jsonl(tmp_path / "vision.jsonl", [row, row])
    for extra in ((), ("--format", "sharegpt"), ("--format", "messages"), ("--format", "alpaca")):
        result = cli("datasets", "inspect", path, *extra)
        assert result.returncode == protocol.EXIT_DATA, result.output
        assert "trains on text only" in result.words or "missing required field" in result.words
        assert "the columns look like" not in result.words and "--map" not in result.output, extra
        assert "Traceback" not in result.output


def test_a_text_table_read_as_the_wrong_format_is_still_offered_its_format(tmp_path):
    path = jsonl(tmp_path / "chats.jsonl", [{"messages": CHAT}, {"messages": CHAT}])
    result = cli("datasets", "inspect", path, "--format", "sharegpt")
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "the columns look like messages: add --format messages" in result.words
    assert cli("datasets", "inspect", path, "--format", "messages").returncode == 0
