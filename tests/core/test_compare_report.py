"""Comparison reports: answers per prompt, metrics with the best in bold, blind tally, config diff."""

from __future__ import annotations

import pytest

from studio.core.cards import Card
from studio.core.compare_report import Comparison, diff_many, save, to_markdown
from studio.core.library import LibraryError, clean_name


def test_report_has_every_part(studio_home):
    comparison = Comparison(
        base="bundled", models=["base", "pirate/v2"], sampling={"temperature": 0.0, "max_new_tokens": 64},
        answers=[{"prompt": "Who are you?", "model": "base", "text": "An AI | assistant", "tokens": 9, "seconds": 0.4},
                 {"prompt": "Who are you?", "model": "pirate/v2", "text": "Ahoy!\nCaptain", "tokens": 5,
                  "seconds": 0.3}],
        metrics=[{"adapter": "base", "eval_loss": 2.0, "perplexity": 7.39, "rouge_l": 0.1, "exact_match": 0.0},
                 {"adapter": "pirate/v2", "eval_loss": 1.0, "perplexity": 2.72, "rouge_l": 0.4, "exact_match": None}],
        diff=[("lora.r", [16])], blind_votes={"pirate/v2": 3, "base": 1})
    text = to_markdown(comparison)
    assert "### Who are you?" in text and "An AI \\| assistant" in text and "Ahoy!<br>Captain" in text
    assert "| `pirate/v2` | **1.0000** | **2.7200** | **0.4000** | — |" in text
    assert "| `base` | 2.0000 | 7.3900 | 0.1000 | **0.0000** |" in text
    assert "`pirate/v2`: 3 win(s)" in text and "4 prompt(s) judged" in text
    path = save(comparison)
    assert path.parent == studio_home / "library" / "reports" and path.read_text() == text


def test_diff_many_keeps_only_fields_that_differ():
    cards = {"a/v1": Card(lora={"r": 8, "alpha": 16}, training={"learning_rate": 1e-4}),
             "b/v1": Card(lora={"r": 16, "alpha": 16}, training={"learning_rate": 1e-4})}
    assert diff_many(cards) == [("lora.r", [8, 16])]


def test_reports_is_not_an_adapter_name():
    with pytest.raises(LibraryError, match="reserved"):
        clean_name("reports")
