"""The benchmark's generated data: deterministic, readable by our loader, and as long as
the published statistics say, measured with the bundled SmolLM2 tokenizer."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from studio.core import bench_data
from studio.core.bench_data import ALPACA, CHAT, CHAT_ROW_CAP, CHAT_TURN_WEIGHTS, LengthTarget
from studio.core.datasets import load_dataset_file
from studio.core.models import bundled_model_path

ROWS = 1000
TOLERANCE = 0.15  # measured median and p90 within ±15% of the target's


@pytest.fixture(scope="module")
def tokenizer():
    """The bundled model's tokenizer, read from its GGUF (about 6 s, once for this module)."""
    transformers = pytest.importorskip("transformers")
    path = bundled_model_path()
    if path is None:
        pytest.skip("the bundled SmolLM2 GGUF is not installed")
    return transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@pytest.fixture(scope="module")
def alpaca():
    return bench_data.alpaca_rows(ROWS, seed=0)


@pytest.fixture(scope="module")
def chat():
    return bench_data.chat_rows(ROWS, seed=0)


def token_counts(tokenizer, texts: list[str]) -> list[int]:
    encodings = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    return [len(e.ids) for e in encodings]


def contents(rows, role: str) -> list[str]:
    return [m["content"] for r in rows for m in r["messages"] if m["role"] == role]


@pytest.mark.parametrize(
    ("write", "name", "expected_format"),
    [(bench_data.write_alpaca, "data.json", "alpaca"), (bench_data.write_chat, "data.jsonl", "messages")],
)
def test_files_are_deterministic_and_load_without_bad_rows(tmp_path, write, name, expected_format):
    first = write(tmp_path / "a" / name, ROWS, seed=3)
    again = write(tmp_path / "b" / name, ROWS, seed=3)
    other = write(tmp_path / "c" / name, ROWS, seed=4)
    assert first == tmp_path / "a" / name
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()

    loaded = load_dataset_file(first, "auto", on_error="skip")
    assert loaded.format == expected_format
    assert (loaded.rows_total, len(loaded.examples), loaded.issues) == (ROWS, ROWS, [])


def test_a_small_file_is_the_start_of_a_large_one():
    assert bench_data.alpaca_rows(40, seed=7) == bench_data.alpaca_rows(120, seed=7)[:40]
    assert bench_data.chat_rows(40, seed=7) == bench_data.chat_rows(120, seed=7)[:40]


def test_alpaca_rows_look_like_alpaca(alpaca):
    assert all(set(r) == {"instruction", "input", "output"} for r in alpaca)
    with_input = sum(bool(r["input"]) for r in alpaca) / len(alpaca)
    assert abs(with_input - bench_data.ALPACA_INPUT_SHARE) < 0.05
    assert all(r["instruction"].startswith(bench_data.VERBS) for r in alpaca)


def test_chat_rows_alternate_and_mostly_have_one_or_two_rounds(chat):
    rounds = []
    for row in chat:
        roles = [m["role"] for m in row["messages"]]
        if roles[0] == "system":
            roles = roles[1:]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles
        rounds.append(len(roles) // 2)
    assert set(rounds) <= set(CHAT_TURN_WEIGHTS)
    assert sum(n <= 2 for n in rounds) > len(rounds) / 2
    assert 2.4 < statistics.mean(rounds) < 3.0  # CHAT_TURN_WEIGHTS' mean is 2.8
    with_system = sum(r["messages"][0]["role"] == "system" for r in chat) / len(chat)
    assert abs(with_system - bench_data.CHAT_SYSTEM_SHARE) < 0.05


@pytest.mark.parametrize(
    ("kind", "field"),
    [("alpaca", "instruction"), ("alpaca", "input"), ("alpaca", "output"),
     ("chat", "system"), ("chat", "user"), ("chat", "assistant")],
)
def test_token_lengths_follow_the_targets(tokenizer, alpaca, chat, kind, field):
    if kind == "alpaca":
        texts = [r[field] for r in alpaca if r[field]]  # "input" is empty on most rows
        target: LengthTarget = ALPACA[field]
    else:
        texts, target = contents(chat, field), CHAT[field]
    lengths = np.asarray(token_counts(tokenizer, texts))
    median, p90 = float(np.median(lengths)), float(np.percentile(lengths, 90))
    assert abs(median / target.median - 1) <= TOLERANCE, (median, target)
    assert abs(p90 / target.p90 - 1) <= TOLERANCE, (p90, target)
    assert target.floor <= lengths.min() and lengths.max() <= target.cap


def test_chat_rows_stay_under_the_row_cap(tokenizer, chat):
    per_row = [sum(token_counts(tokenizer, [m["content"] for m in r["messages"]])) for r in chat]
    assert max(per_row) <= CHAT_ROW_CAP
    # Through the model's chat template: longer than the content, never by more than the markup.
    longest = max(chat, key=lambda r: len(r["messages"]))
    rendered = token_counts(tokenizer, [tokenizer.apply_chat_template(longest["messages"], tokenize=False)])[0]
    content = sum(token_counts(tokenizer, [m["content"] for m in longest["messages"]]))
    assert content < rendered <= content + 40 + 6 * len(longest["messages"])
