"""Turning a completion into text, its final answer and its numbers.

TRL hands a reward either plain strings (prompt datasets) or message lists (conversational
datasets: ``[{"role": "assistant", "content": ...}]``); every preset reads text through
``completion_text`` so both forms score the same.
"""

from __future__ import annotations

import re
from typing import Any

ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
# "1,234", "1234.0", "$1234", "-3.5", ".5": thousands separators only in groups of three, so a
# list "1,2,3" reads as three numbers, not 123.
NUMBER = re.compile(r"-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\$?\.\d+")


def completion_text(completion: Any) -> str:
    """The text of one completion: a string as is, a message list's contents joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    if isinstance(completion, (list, tuple)):
        return "\n".join(completion_text(message) for message in completion)
    return "" if completion is None else str(completion)


def final_answer(text: str) -> str:
    """The last ``<answer>…</answer>`` when there is one, else the last non-empty line."""
    tagged = ANSWER_TAG.findall(text)
    if tagged:
        return str(tagged[-1])
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_number(text: str) -> float | None:
    """The last number in ``text`` ("1,234", "1234.0", "$1234" all read 1234.0), or None."""
    found = NUMBER.findall(text)
    if not found:
        return None
    return float(found[-1].replace(",", "").replace("$", ""))


def reference_number(value: Any) -> float | None:
    """A reference column's value as a number: numbers as they are, strings parsed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return parse_number(str(value)) if value is not None else None
