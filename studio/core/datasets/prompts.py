"""Prompt rows for GRPO: what to ask the model, and the columns its reward functions read.

GRPO generates its own answers, so a row is a prompt alone (format ``prompts``):

  prompts   prompt: a string (the user's turn) or a message list ending with the user's
            (or a tool's) turn; or messages: such a list; optional system and tools.
            Every other column (answer, expression, a JSON schema, ...) is kept beside the
            prompt for the rewards (``Example.columns``): core.rewards checks that the
            columns each reward reads are there before a run starts.

Refused per row: an empty prompt, a conversation that breaks the chat rules (formats' ``_chat``),
and one that ends with the assistant's reply, since GRPO samples that reply itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .formats import Example, Message, _chat, _Row, _tools
from .preference import Turns, _check_prompt, _turns

PROMPT_FORMATS = ("prompts",)
PROMPT_KEYS = ("prompt", "messages", "system", "tools")  # what a prompt is read from; the rest are columns


def _prompts(row: _Row, data: dict) -> Example:
    key = "prompt" if data.get("prompt") is not None or "messages" not in data else "messages"
    value = data.get(key)
    if value is None:
        raise row.error(key, ("is null" if key in data else "missing required field")
                        + "; a GRPO row needs the prompt to answer: 'prompt' (a string or a message list) or "
                          "'messages' ending with the user's turn")
    turns: Turns = _turns(row, value, key, "user")
    system = row.optional_string(data, "system", "system")
    if system is not None and turns[0][0].role != "system":
        turns = [(Message("system", system), "system"), *turns]
    last, path = turns[-1]
    if last.role == "assistant":
        raise row.error(f"{path}.role", "the prompt ends with the assistant's reply; GRPO samples the reply "
                                        "itself: drop that turn, or keep it in another column for a reward to "
                                        "read (a reference answer)")
    _check_prompt(row, turns, "role")
    # The chat rules (system first, user first, no two user turns in a row, tools after calls) are
    # formats' one reading of them: checked on the prompt followed by the reply GRPO will sample.
    _chat(row, [*turns, (Message("assistant", "…"), "reply")], key, role_key="role", content_key="content")
    columns = {name: value for name, value in data.items() if name not in PROMPT_KEYS}
    return Example(kind="prompt", messages=tuple(m for m, _ in turns), tools=_tools(row, data), columns=columns)


NORMALIZERS: dict[str, Callable[[_Row, dict], Example]] = {"prompts": _prompts}


def column_names(examples: list[Example]) -> list[str]:
    """Every column the prompt rows carry for rewards, in the order first seen."""
    seen: dict[str, None] = {}
    for example in examples:
        seen.update(dict.fromkeys(example.columns))
    return list(seen)


def column_values(examples: list[Example], name: str) -> list[Any]:
    return [example.columns.get(name) for example in examples]
