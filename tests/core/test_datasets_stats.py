"""Token-length statistics with a real tokenizer.json, trained here in memory (no downloads)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

from studio.core.datasets import (
    Example,
    Message,
    load_dataset_file,
    render_plain,
    token_length_stats,
)

WORDS = "the quick brown fox jumps over a lazy dog while one two three four five six".split()


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory):
    """A word-level tokenizer that adds one [BOS] per text, saved with truncation on.

    Truncation is switched on before saving because real tokenizer.json files
    sometimes ship that way; the statistics must still see full lengths.
    """
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]", "[BOS]"])
    tokenizer.train_from_iterator([" ".join(WORDS), "user assistant system"], trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", special_tokens=[("[BOS]", tokenizer.token_to_id("[BOS]"))]
    )
    tokenizer.enable_truncation(max_length=4)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def text(n_words: int) -> Example:
    return Example(kind="text", text=" ".join(WORDS[i % len(WORDS)] for i in range(n_words)))


def test_lengths_summary_and_histogram(tokenizer_json):
    examples = [text(n) for n in range(1, 21)]  # 1..20 words -> 2..21 tokens with [BOS]
    stats = token_length_stats(examples, tokenizer_json, max_length=10)
    expected = np.arange(2, 22)
    assert stats.lengths == tuple(expected.tolist())
    assert (stats.count, stats.min, stats.max) == (20, 2, 21)
    assert stats.median == 11.5 and stats.mean == 11.5
    assert stats.p95 == pytest.approx(np.percentile(expected, 95))
    assert len(stats.histogram) == 20 and len(stats.bin_edges) == 21 and sum(stats.histogram) == 20
    assert (stats.bin_edges[0], stats.bin_edges[-1]) == (2.0, 21.0)
    assert (stats.truncated_count, stats.truncated_fraction) == (11, 11 / 20)  # lengths 11..21
    json.dumps(stats.__dict__)  # plain Python numbers, ready for a GUI or a card


def test_an_outlier_is_counted_off_the_chart_not_drawn(tokenizer_json):
    """One 400-word row among 199 short ones once stretched the axis until the other bars were
    slivers: the bins end at the 99th percentile and the outlier is counted."""
    examples = [text(5 + i % 10) for i in range(199)] + [text(400)]
    stats = token_length_stats(examples, tokenizer_json, max_length=64)
    assert stats.off_chart == 1 and sum(stats.histogram) == 199 and stats.max == 401
    assert stats.bin_edges[-1] < 20
    even = token_length_stats([text(n) for n in range(1, 40)], tokenizer_json, max_length=64)
    assert even.off_chart == 0 and even.bin_edges[-1] == even.max  # no outlier: the whole range


def test_unknown_words_still_count(tokenizer_json):
    stats = token_length_stats([Example(kind="text", text="zebra quagga the")], tokenizer_json, 8)
    assert stats.lengths == (4,)


def test_render_plain_tags_roles_and_a_custom_render_wins(tokenizer_json):
    chat = Example(
        kind="chat", messages=(Message("user", "one two"), Message("assistant", "three"))
    )
    assert render_plain(chat) == "<|user|>\none two\n<|assistant|>\nthree\n"
    completion = Example(kind="completion", prompt="one two", completion=" three")
    assert render_plain(completion) == "one two three"
    # Whitespace splits "<|user|>" into "<|", "user", "|>": 3 tokens per tag.
    plain = token_length_stats([chat, completion], tokenizer_json, 512)
    assert plain.lengths == (1 + 3 + 2 + 3 + 1, 1 + 3)
    bare = token_length_stats(
        [chat], tokenizer_json, 512, render=lambda e: " ".join(m.content for m in e.messages)
    )
    assert bare.lengths == (4,)


def test_stats_on_a_loaded_file(tokenizer_json, tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [{"instruction": "one two three", "input": "four", "output": "five six"}] * 3
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    stats = token_length_stats(load_dataset_file(path).examples, tokenizer_json, max_length=8)
    assert stats.count == 3 and len(set(stats.lengths)) == 1
    assert stats.lengths[0] == 1 + 3 + 4 + 3 + 2  # [BOS], tag, 4 words, tag, 2 words
    assert stats.truncated_fraction == 1.0


def test_no_examples_gives_empty_stats(tokenizer_json):
    stats = token_length_stats([], tokenizer_json, 16)
    assert (stats.count, stats.lengths, stats.histogram, stats.truncated_fraction) == (
        0,
        (),
        (),
        0.0,
    )


def test_bad_inputs(tokenizer_json, tmp_path):
    with pytest.raises(FileNotFoundError):
        token_length_stats([text(1)], tmp_path / "missing.json", 8)
    broken = tmp_path / "tokenizer.json"
    broken.write_text('{"not": "a tokenizer"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a readable tokenizer.json"):
        token_length_stats([text(1)], broken, 8)
    with pytest.raises(ValueError, match="max_length"):
        token_length_stats([text(1)], tokenizer_json, 0)
