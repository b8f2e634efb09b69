"""Preference rows: pairs (a prompt, a chosen and a rejected reply) and KTO's labelled replies.

DPO, ORPO and SimPO learn from pairs, KTO from single replies labelled desirable or not. The
layouts people have are read here into `Example`s (kind "preference" or "kto") with formats'
own turn readers, so a bad row names its file, line and field as an SFT row does:

  preference           prompt, chosen, rejected (Hugging Face's convention): each a string (the
                       user's turn, an assistant reply) or a message list, chosen and rejected
                       holding the assistant's turn. Without a prompt, chosen and rejected are whole
                       conversations (message lists, or "\\n\\nHuman: … \\n\\nAssistant: …" text as in
                       Anthropic's HH) and the turns they share are the prompt (TRL's implicit
                       prompt); a prompt given beside whole conversations must be those turns.
  preference_sharegpt  conversations [{from, value}] ending with the user's turn; chosen and
                       rejected as {from, value} objects (LLaMA-Factory); optional system, tools
  preference_alpaca    instruction, optional input and system, chosen, rejected: strings
  kto                  prompt, completion, label (TRL's unpaired layout): prompt and completion
                       strings or message lists
  kto_messages         messages + label: the turns after the last user turn are the judged reply

Refused per row: an empty reply, chosen equal to rejected, a prompt that does not end with the
user's (or a tool's) turn, a reply that does not end with the assistant's, a label that is not a
boolean (true/false, 1/0, or "true"/"false"/"1"/"0" as a CSV writes them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import type_name
from .formats import (
    MESSAGE_ROLES,
    Example,
    Message,
    Role,
    _alpaca_prompt,
    _chat,
    _message_turns,
    _messages,
    _Row,
    _sharegpt_message,
    _tools,
)

Turns = list[tuple[Message, str]]  # each turn with its path in the row, for errors
_LABEL_WORDS = {"true": True, "false": False, "1": True, "0": False}
_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")  # Anthropic HH's "\n\nHuman: …\n\nAssistant: …" text


def boolean_label(value: Any) -> bool | None:
    """A KTO label as a bool, or None when ``value`` is no boolean: True/False, 1/0, or the strings
    "true"/"false"/"1"/"0" (any case) that a CSV holds."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return _LABEL_WORDS.get(value.strip().lower())
    return None


def sequences(example: Example) -> tuple[Example, ...]:
    """What a trainer feeds the model for ``example``, each as a chat: a pair's prompt + chosen and
    prompt + rejected, a KTO row's prompt + reply; any other example as it is."""
    if example.kind == "preference":
        return tuple(Example(kind="chat", messages=example.messages + reply, tools=example.tools,
                             source=example.source) for reply in (example.chosen, example.rejected))
    if example.kind == "kto":
        return (Example(kind="chat", messages=example.messages + example.response, tools=example.tools,
                        source=example.source),)
    return (example,)


def unpaired(examples: list[Example]) -> list[Example]:
    """Pairs as KTO rows, as TRL unpairs them: each chosen reply desirable, each rejected one not."""
    out = []
    for e in examples:
        if e.kind != "preference":
            out.append(e)
            continue
        for reply, desirable in ((e.chosen, True), (e.rejected, False)):
            out.append(Example(kind="kto", messages=e.messages, response=reply, desirable=desirable,
                               tools=e.tools, source=e.source))
    return out


def _required(row: _Row, data: dict, key: str) -> Any:
    value = data.get(key)
    if value is None:
        raise row.error(key, "is null" if key in data else "missing required field")
    return value


def _turns(row: _Row, value: Any, path: str, role: Role) -> Turns:
    """A string (one ``role`` turn) or a list of {role, content} messages."""
    if isinstance(value, str):
        if not value.strip():
            raise row.error(path, "is empty")
        return [(Message(role, value), path)]
    if not isinstance(value, list):
        wrap = "; put a single message in a list: [{...}]" if isinstance(value, dict) else ""
        raise row.error(path, f"expected a string or a list of messages, got {type_name(value)}{wrap}")
    if not value:
        raise row.error(path, "is empty")
    return _message_turns(row, value, path)


def _check_prompt(row: _Row, prompt: Turns, role_key: str) -> None:
    last, path = prompt[-1]
    if last.role not in ("user", "tool"):
        raise row.error(f"{path}.{role_key}", f"the prompt ends with the {last.role}'s turn; it must end with "
                                              "the user's turn (or a tool's result), and the replies follow it")


def _check_reply(row: _Row, turns: Turns, name: str, role_key: str) -> None:
    """A reply is the assistant's: assistant turns, with tool results between them, the last its own."""
    if not turns:
        raise row.error(name, "is empty")
    for i, (turn, path) in enumerate(turns):
        if turn.role in ("user", "system") or i == 0 and turn.role != "assistant":
            raise row.error(f"{path}.{role_key}", f"a reply holds the assistant's turns, not the {turn.role}'s; "
                                                  "put the conversation before the reply in the prompt")
    last, path = turns[-1]
    if last.role != "assistant":
        raise row.error(f"{path}.{role_key}", f"the reply ends with the {last.role}'s turn; its last turn must "
                                              "be the assistant's")


def _same(a: Turns, b: Turns) -> bool:
    def key(turns: Turns) -> list[tuple]:
        return [(m.role, m.content.strip(), m.tool_calls, m.reasoning.strip()) for m, _ in turns]

    return key(a) == key(b)


def _pair(row: _Row, prompt: Turns, chosen: Turns, rejected: Turns, tools: tuple[dict[str, Any], ...],
          *, role_key: str = "role", content_key: str = "content") -> Example:
    """A checked pair: each reply follows the prompt as a chat would (formats' chat rules), and they differ."""
    for name, reply in (("chosen", chosen), ("rejected", rejected)):
        _check_reply(row, reply, name, role_key)
    if not prompt:
        raise row.error("prompt", "is empty")
    _check_prompt(row, prompt, role_key)
    for name, reply in (("chosen", chosen), ("rejected", rejected)):
        _chat(row, prompt + reply, name, role_key=role_key, content_key=content_key)
    if _same(chosen, rejected):
        raise row.error("rejected", "is the same reply as chosen; a pair teaches a preference only when its "
                                    "replies differ: fix or remove the row")
    return Example(kind="preference", messages=tuple(m for m, _ in prompt), chosen=tuple(m for m, _ in chosen),
                   rejected=tuple(m for m, _ in rejected), tools=tools)


def _conversation(value: Any) -> bool:
    """Whether a chosen/rejected value is a whole conversation (it starts with a system or user turn)."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return MESSAGE_ROLES.get(str(value[0].get("role"))) in ("system", "user")
    return False


def _hh_turns(text: str, path: str) -> Turns | None:
    """Anthropic HH's "\\n\\nHuman: …\\n\\nAssistant: …" text as turns; None for other text."""
    pieces = _HH_TURN.split("\n\n" + text if text.startswith(("Human:", "Assistant:")) else text)
    if len(pieces) < 3 or pieces[0].strip():
        return None
    return [(Message("user" if speaker == "Human" else "assistant", said.strip()), path)
            for speaker, said in zip(pieces[1::2], pieces[2::2], strict=True)]


def _preference(row: _Row, data: dict) -> Example:
    chosen, rejected = _required(row, data, "chosen"), _required(row, data, "rejected")
    tools = _tools(row, data)
    if _conversation(chosen) or _conversation(rejected):
        return _implicit(row, data, _turns(row, chosen, "chosen", "assistant"),
                         _turns(row, rejected, "rejected", "assistant"), tools)
    if data.get("prompt") is None and isinstance(chosen, str) and isinstance(rejected, str):
        whole = _hh_turns(chosen, "chosen"), _hh_turns(rejected, "rejected")
        if whole[0] is not None and whole[1] is not None:
            return _implicit(row, data, whole[0], whole[1], tools)
    if data.get("prompt") is None:
        raise row.error("prompt", ("is null" if "prompt" in data else "missing required field")
                        + "; a pair needs the prompt its replies answer (or chosen and rejected as whole "
                          "conversations that share it)")
    return _pair(row, _turns(row, data["prompt"], "prompt", "user"), _turns(row, chosen, "chosen", "assistant"),
                 _turns(row, rejected, "rejected", "assistant"), tools)


def _implicit(row: _Row, data: dict, chosen: Turns, rejected: Turns, tools: tuple[dict[str, Any], ...]) -> Example:
    """Whole conversations: the turns they share are the prompt, the rest the two replies."""
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared][0] == rejected[shared][0]:
        shared += 1
    if shared == len(chosen) == len(rejected):
        raise row.error("rejected", "is the same conversation as chosen; a pair teaches a preference only when "
                                    "its replies differ: fix or remove the row")
    if shared == 0:
        raise row.error("chosen", "chosen and rejected share no turns, so they don't answer one prompt; give "
                                  "the prompt as 'prompt' and the two replies alone")
    prompt = chosen[:shared]
    given = data.get("prompt")
    if given is not None:
        turns = [m for m, _ in _turns(row, given, "prompt", "user")]
        asked = [m for m, _ in prompt]
        users = [m.content.strip() for m in asked if m.role == "user"]
        if turns != asked and not (isinstance(given, str) and users and users[-1] == given.strip()):
            raise row.error("prompt", "differs from the turns chosen and rejected share, which are the prompt "
                                      "they answer; fix it, or leave 'prompt' out")
    return _pair(row, prompt, chosen[shared:], rejected[shared:], tools)


def _sharegpt_reply(row: _Row, data: dict, key: str) -> Turns:
    value = _required(row, data, key)
    if isinstance(value, str):
        if not value.strip():
            raise row.error(key, "is empty")
        return [(Message("assistant", value), key)]
    if isinstance(value, dict):
        return [(_sharegpt_message(row, value, key), key)]
    if isinstance(value, list):
        return [(_sharegpt_message(row, turn, f"{key}[{i}]"), f"{key}[{i}]") for i, turn in enumerate(value)]
    raise row.error(key, f"expected an object with 'from' and 'value', got {type_name(value)}")


def _preference_sharegpt(row: _Row, data: dict) -> Example:
    prompt: Turns = []
    system = row.optional_string(data, "system", "system", allow_empty=True)
    if system and system.strip():
        prompt.append((Message("system", system), "system"))
    conversations = row.items(data, "conversations")
    if not conversations:
        raise row.error("conversations", "the conversation is empty; it holds the prompt the replies answer")
    prompt += [(_sharegpt_message(row, turn, f"conversations[{i}]"), f"conversations[{i}]")
               for i, turn in enumerate(conversations)]
    return _pair(row, prompt, _sharegpt_reply(row, data, "chosen"), _sharegpt_reply(row, data, "rejected"),
                 _tools(row, data), role_key="from", content_key="value")


def _preference_alpaca(row: _Row, data: dict) -> Example:
    prompt = _alpaca_prompt(row, data)
    paths = ("system", "instruction") if len(prompt) == 2 else ("instruction",)
    replies = [[(Message("assistant", row.string(data, key, key)), key)] for key in ("chosen", "rejected")]
    return _pair(row, list(zip(prompt, paths, strict=True)), replies[0], replies[1], ())


def _label(row: _Row, data: dict) -> bool:
    label = boolean_label(_required(row, data, "label"))
    if label is None:
        raise row.error("label", f"must be true (a reply to learn from) or false (one to move away from), got "
                                 f"{data['label']!r}; write a boolean, 1/0, or 'true'/'false'")
    return label


def _kto(row: _Row, data: dict) -> Example:
    prompt = _turns(row, _required(row, data, "prompt"), "prompt", "user")
    reply = _turns(row, _required(row, data, "completion"), "completion", "assistant")
    desirable = _label(row, data)
    _check_reply(row, reply, "completion", "role")
    _check_prompt(row, prompt, "role")
    _chat(row, prompt + reply, "completion", role_key="role", content_key="content")
    return Example(kind="kto", messages=tuple(m for m, _ in prompt), response=tuple(m for m, _ in reply),
                   desirable=desirable, tools=_tools(row, data))


def _kto_messages(row: _Row, data: dict) -> Example:
    chat = _messages(row, data)
    desirable = _label(row, data)
    last_user = max((i for i, m in enumerate(chat.messages) if m.role == "user"), default=0)
    return Example(kind="kto", messages=chat.messages[: last_user + 1], response=chat.messages[last_user + 1:],
                   desirable=desirable, tools=chat.tools)


NORMALIZERS: dict[str, Callable[[_Row, dict], Example]] = {
    "preference": _preference,
    "preference_sharegpt": _preference_sharegpt,
    "preference_alpaca": _preference_alpaca,
    "kto": _kto,
    "kto_messages": _kto_messages,
}
