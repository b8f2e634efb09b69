"""Exact match for evaluation answers (SQuAD's normalisation).

ROUGE-L comes from the rouge-score package in the engine (studio.engine.evaluation);
this part is four lines and the GUI and reports use it without the engine.
"""

from __future__ import annotations

import re
import string


def normalize_answer(text: str) -> str:
    """SQuAD-style: lowercase, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))
