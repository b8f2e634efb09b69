"""ROUGE-L and exact match against hand-computed values (and rouge-score's conventions)."""

from __future__ import annotations

import pytest

from studio.core.metrics import exact_match, lcs_length, rouge_l


def test_lcs():
    assert lcs_length("a b c d".split(), "a c d e".split()) == 3
    assert lcs_length([], ["a"]) == 0


@pytest.mark.parametrize(("prediction", "reference", "expected"), [
    ("the cat sat on the mat", "the cat sat on the mat", 1.0),
    ("The Cat, sat!", "the cat sat", 1.0),  # case and punctuation ignored
    ("police killed the gunman", "police kill the gunman", 0.75),  # rouge-score's README example
    ("a b c d", "x y", 0.0),
    ("", "anything", 0.0),
])
def test_rouge_l(prediction, reference, expected):
    assert rouge_l(prediction, reference) == pytest.approx(expected)


def test_rouge_l_precision_and_recall_combine():
    # LCS 2 of 4 predicted and 2 of 2 reference tokens: P = 0.5, R = 1, F = 2/3
    assert rouge_l("paris is nice city", "paris city") == pytest.approx(2 / 3)


def test_exact_match_normalises_like_squad():
    assert exact_match("The answer: Oslo.", "answer oslo") == 1.0
    assert exact_match("Oslo", "Bergen") == 0.0
