"""Exact match normalises like SQuAD's evaluation script."""

from __future__ import annotations

from studio.core.metrics import exact_match


def test_exact_match_normalises_like_squad():
    assert exact_match("The answer: Oslo.", "answer oslo") == 1.0
    assert exact_match("Oslo", "Bergen") == 0.0
    assert exact_match("An apple", "apple") == 1.0
