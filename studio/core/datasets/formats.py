"""Dataset formats: recognise them, check every row, and normalise rows to `Example`.

The rest of the app (preview, token statistics, the engine's data preparation)
only ever sees `Example`: a chat (role/content turns), a prompt/completion
pair, or plain text. Each format's checks run here, in core, so that a broken
row is reported with its line and field before a worker loads a model, not
as a KeyError twenty minutes into a run.

Formats (the keys `detect_format` looks for):
  alpaca             instruction, output, optional input and system -> chat
                     (user = instruction + "\\n\\n" + input when input is set)
  sharegpt           conversations: [{from, value}], optional top-level system
                     and tools -> chat. from: human/user, gpt/assistant/model,
                     system, function_call (the assistant calls tools: value is
                     a JSON call or list of calls), observation/tool (a result)
  messages           messages: [{role, content}], optional top-level tools ->
                     chat. role: system/developer, user, assistant, tool/function;
                     content: a string, null beside tool_calls, or a list of
                     typed parts (text, reasoning, tool_call) whose texts are
                     joined with "\\n" so words from two parts never run together;
                     an assistant's weight/loss_weight 0 makes it context only
  prompt_completion  prompt, completion -> completion (the prompt may be empty)
  text               text (or a .txt document) -> text
Preference formats (pairs for DPO/ORPO/SimPO, labelled replies for KTO) are read by
`preference`: preference, preference_sharegpt, preference_alpaca, kto, kto_messages.

Tool use follows transformers' chat-template convention: tool definitions as
{"type": "function", "function": {name, description, parameters}}, calls as
{"name", "arguments": {...}}; `chat_segments` renders them through the model's
template, or writes them out itself when the template has no tool support.

Rows we can't train right are refused, with what to do, not trained wrongly: rows
with images, audio or video; read as an SFT format, preference pairs (chosen/rejected)
and KTO rows labelled undesirable (`refusals`). Which stage trains which rows is `stages`' rule.

Chat rules (checked per row, each failure names the offending field):
  - a system turn only as the very first turn;
  - then a user turn first, because several chat templates (Llama 2, Mistral,
    Gemma) raise on anything else;
  - no two user or two assistant turns in a row: the same templates raise on
    them, and merging them silently would change the data;
  - tool turns follow an assistant turn or another tool turn (parallel calls);
  - user and assistant turns are non-empty, there is an assistant turn, and
    the last turn is the assistant's (a trailing prompt has nothing to learn).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from .errors import DatasetError, RowUnit, type_name
from .readers import RawRecord
from .refusals import MEDIA_PARTS, MEDIA_REFUSAL, untrainable

Role = Literal["system", "user", "assistant", "tool"]
ExampleKind = Literal["chat", "completion", "text", "preference", "kto", "prompt"]

SHAREGPT_ROLES: dict[str, Role] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "function_call": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
}
# Roles as other tools write them -> ours ("developer" is OpenAI's newer name for system).
MESSAGE_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}
TEXT_PARTS = ("text", "input_text", "output_text")
REASONING_PARTS = ("reasoning", "thinking")
CALL_PARTS = ("tool_call", "tool_use", "function_call")
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")

PAIR_FORMATS = ("preference", "preference_sharegpt", "preference_alpaca")  # prompt, chosen, rejected
LABELLED_FORMATS = ("kto", "kto_messages")  # one reply per row, labelled desirable or not (KTO)
# A row votes for the first format whose keys it has: preference keys first, since a pair's row also has
# an SFT format's keys ("conversations", "instruction"); a labelled format only when its label is a boolean.
_DETECT_KEYS: dict[str, tuple[str, ...]] = {
    "preference_sharegpt": ("conversations", "chosen", "rejected"),
    "preference_alpaca": ("instruction", "chosen", "rejected"),
    "preference": ("chosen", "rejected"),
    "kto_messages": ("messages", "label"),
    "kto": ("prompt", "completion", "label"),
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "alpaca": ("instruction", "output"),
    "prompt_completion": ("prompt", "completion"),
    "prompts": ("prompt",),  # a prompt alone (GRPO answers it itself): core.datasets.prompts
    "text": ("text",),
}
SFT_FORMATS = ("alpaca", "sharegpt", "messages", "prompt_completion", "text")
FORMAT_NAMES: tuple[str, ...] = SFT_FORMATS + PAIR_FORMATS + LABELLED_FORMATS + ("prompts",)  # a format box's order
FORMAT_HELP: dict[str, str] = {
    "alpaca": "instruction, output (optional input, system)",
    "sharegpt": "conversations: [{from, value}, ...]",
    "messages": "messages: [{role, content}, ...]",
    "prompt_completion": "prompt, completion",
    "text": "text (or paragraphs of a .txt file)",
    "preference": "prompt, chosen, rejected: strings or message lists (no prompt: chosen and rejected are "
                  "whole conversations sharing it)",
    "preference_sharegpt": "conversations: [{from, value}, ...], chosen: {from, value}, rejected: {from, value}",
    "preference_alpaca": "instruction, chosen, rejected (optional input, system)",
    "kto": "prompt, completion, label (true: a good reply, false: a bad one)",
    "kto_messages": "messages: [{role, content}, ...], label (true/false for the last reply)",
    "prompts": "prompt (or messages ending with the user's turn) and the columns the rewards read, e.g. answer",
}
_DETECT_SAMPLE = 10  # rows looked at; a few bad rows at the top must not decide the format
KEY_CHARS, KEYS_SHOWN = 40, 12  # of the first row's keys, in an error that can't tell the format


@dataclass(frozen=True)
class ToolCall:
    """One tool call by the assistant: the tool's name and its arguments (a JSON object)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant's calls
    reasoning: str = ""  # an assistant's thinking before its answer
    name: str = ""  # a tool result's tool name or call id
    train: bool | None = None  # an assistant turn's weight: False = context only; None = by role


@dataclass(frozen=True)
class Example:
    """One training example, whatever file and format it came from: a chat, a completion, plain text,
    a preference pair (a prompt, a chosen and a rejected reply) or a KTO row (a prompt and a labelled reply)."""

    kind: ExampleKind
    messages: tuple[Message, ...] = ()  # kind == "chat"; "preference" and "kto": the prompt turns
    prompt: str = ""  # kind == "completion"
    completion: str = ""  # kind == "completion"
    text: str = ""  # kind == "text"
    source: str = ""  # where it came from: "line 7", "row 3"
    tools: tuple[dict[str, Any], ...] = ()  # tool definitions the chat may call (OpenAI/transformers shape)
    # kind == "preference": `messages` holds the prompt turns (ending with a user or tool turn) and these the
    # two replies to it, each one or more assistant turns (tool turns between them for an agent's reply).
    chosen: tuple[Message, ...] = ()
    rejected: tuple[Message, ...] = ()
    # kind == "kto": `messages` holds the prompt turns, `response` the reply the label judges.
    response: tuple[Message, ...] = ()
    desirable: bool | None = None  # kind == "kto": True a reply to learn from, False one to move away from
    # kind == "prompt" (GRPO): `messages` holds the prompt turns, these the row's other columns (for rewards).
    columns: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, e.g. for a worker or a datasets column (`from_dict` reads it back)."""
        return asdict(self, dict_factory=lambda items: {k: list(v) if isinstance(v, tuple) else v for k, v in items})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Example:
        def turns(key: str) -> tuple[Message, ...]:
            return tuple(Message(**{**m, "tool_calls": tuple(ToolCall(**c) for c in m.get("tool_calls", ()))})
                         for m in data.get(key, ()))

        replies = {key: turns(key) for key in ("messages", "chosen", "rejected", "response")}
        return cls(**{**data, **replies, "tools": tuple(data.get("tools", ()))})

    @property
    def uses_tools(self) -> bool:
        turns = self.messages + self.chosen + self.rejected + self.response
        return bool(self.tools) or any(m.tool_calls or m.role == "tool" for m in turns)


def detect_format(records: Sequence[RawRecord | dict | str], *, file: str = "<records>") -> str:
    """Name the format of `records` from the keys of the first few readable ones.

    Each sampled row votes for the first format whose keys it has; the most
    votes wins. Raises DatasetError listing every format's keys if none fits.
    """
    rows = [r for r in records if not (isinstance(r, RawRecord) and r.error is not None)]
    if not rows:
        bad = records[0] if records else None
        if isinstance(bad, RawRecord) and bad.error is not None:
            raise bad.error
        raise DatasetError(file, None, None, "no records to detect the format from")
    votes: Counter[str] = Counter()
    first_keys: list[str] | None = None
    for row in rows[:_DETECT_SAMPLE]:
        data = row.data if isinstance(row, RawRecord) else row
        if isinstance(data, str):
            return "text"
        if not isinstance(data, dict):
            continue
        if first_keys is None:
            first_keys = sorted(map(str, data))
        refusal = untrainable(data, sft=False)
        if refusal:
            raise DatasetError(file, row.row if isinstance(row, RawRecord) else None, refusal[0], refusal[1],
                               unit=row.unit if isinstance(row, RawRecord) else "line")
        for name, keys in _DETECT_KEYS.items():
            if all(k in data for k in keys) and (name not in LABELLED_FORMATS or _is_label(data["label"])):
                votes[name] += 1
                break
    if not votes:
        from .columns import guess_columns  # columns imports this module's neighbours, not it

        expected = "; ".join(f"{name} ({FORMAT_HELP[name]})" for name in FORMAT_NAMES)
        guess = guess_columns(first_keys or [])
        offer = (f"; the columns look like {guess.format}: map them with --map {guess.as_option()} "
                 f"(or dataset.columns in a job file)" if guess and guess.mapping else "")
        raise DatasetError(
            file,
            None,
            None,
            f"cannot tell the dataset format from the keys {_short_keys(first_keys or [])}{offer}; "
            f"expected one of: {expected}",
        )
    best = max(votes.values())
    return next(name for name in _DETECT_KEYS if votes[name] == best)


def normalize_record(record: RawRecord, format: str, *, file: str) -> Example:
    """Check one record against `format` and turn it into an Example.

    Raises the record's own read error, or a DatasetError naming the field.
    """
    from .preference import (
        NORMALIZERS,  # preference and prompts read rows with this module's helpers
    )
    from .prompts import NORMALIZERS as PROMPT_NORMALIZERS

    normalizer = _NORMALIZERS.get(format) or NORMALIZERS.get(format) or PROMPT_NORMALIZERS.get(format)
    if normalizer is None:
        raise ValueError(
            f"unknown dataset format {format!r}; expected one of {', '.join(FORMAT_NAMES)}"
        )
    if record.error is not None:
        raise record.error
    row = _Row(file, record.row, record.unit)
    if isinstance(record.data, str):
        if format != "text":
            raise row.error(
                None, f"a .txt file holds plain text; use the 'text' format, not '{format}'"
            )
        if not record.data.strip():
            raise row.error(None, "empty paragraph")
        return Example(kind="text", text=record.data, source=record.label)
    refusal = untrainable(record.data, sft=format in SFT_FORMATS)
    if refusal:
        raise row.error(*refusal)
    return replace(normalizer(row, record.data), source=record.label)


def _is_label(value: Any) -> bool:
    """Whether a KTO label can be read from ``value``: a boolean, 1/0, or "true"/"false"/"1"/"0" (CSV)."""
    from .preference import boolean_label

    return boolean_label(value) is not None


@dataclass(frozen=True)
class _Row:
    file: str
    row: int | None  # None: a value given outside a file's rows
    unit: RowUnit

    def error(self, field: str | None, reason: str) -> DatasetError:
        return DatasetError(self.file, self.row, field, reason, unit=self.unit)

    def string(self, obj: dict, key: str, path: str, *, allow_empty: bool = False) -> str:
        """obj[key] as a string; a missing or null value is this row's error."""
        value = self.optional_string(obj, key, path, allow_empty=allow_empty)
        if value is None:
            raise self.error(path, "is null" if key in obj else "missing required field")
        return value

    def optional_string(self, obj: dict, key: str, path: str, *, allow_empty: bool = False) -> str | None:
        """obj[key] as a string; None when absent or null."""
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {type_name(value)}")
        if not allow_empty and not value.strip():
            raise self.error(path, "is empty")
        return value

    def items(self, obj: dict, key: str) -> list:
        value = obj.get(key)
        if value is None:
            raise self.error(key, "is null" if key in obj else "missing required field")
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {type_name(value)}")
        return value


def _alpaca(row: _Row, data: dict) -> Example:
    prompt = _alpaca_prompt(row, data)
    return Example(kind="chat", messages=prompt + (Message("assistant", row.string(data, "output", "output")),))


def _alpaca_prompt(row: _Row, data: dict) -> tuple[Message, ...]:
    """An alpaca row's optional system turn and its user turn: instruction, a blank line, input."""
    instruction = row.string(data, "instruction", "instruction")
    extra = row.optional_string(data, "input", "input", allow_empty=True)
    system = row.optional_string(data, "system", "system", allow_empty=True)
    user = Message("user", instruction + ("\n\n" + extra if extra and extra.strip() else ""))
    return (Message("system", system), user) if system and system.strip() else (user,)


def _sharegpt(row: _Row, data: dict) -> Example:
    turns: list[tuple[Message, str]] = []
    system = row.optional_string(data, "system", "system", allow_empty=True)
    if system and system.strip():
        turns.append((Message("system", system), "system"))
    for i, turn in enumerate(row.items(data, "conversations")):
        turns.append((_sharegpt_message(row, turn, f"conversations[{i}]"), f"conversations[{i}]"))
    example = _chat(row, turns, "conversations", role_key="from", content_key="value")
    return replace(example, tools=_tools(row, data))


def _sharegpt_message(row: _Row, turn: Any, path: str) -> Message:
    """One {from, value} turn; a function_call's value is the JSON of its call(s)."""
    if not isinstance(turn, dict):
        raise row.error(path, f"expected an object with 'from' and 'value', got {type_name(turn)}")
    speaker = row.string(turn, "from", f"{path}.from")
    role = SHAREGPT_ROLES.get(speaker.strip().lower())
    if role is None:
        raise row.error(f"{path}.from", f"unknown role '{speaker}'; expected one of {', '.join(SHAREGPT_ROLES)}")
    value = row.string(turn, "value", f"{path}.value", allow_empty=True)
    if speaker.strip().lower() == "function_call":
        calls = _tool_calls(row, _json_value(row, value, f"{path}.value"), f"{path}.value")
        return Message("assistant", "", tool_calls=calls)
    return Message(role, value)


def _messages(row: _Row, data: dict) -> Example:
    turns = _message_turns(row, row.items(data, "messages"), "messages")
    example = _chat(row, turns, "messages", role_key="role", content_key="content")
    return replace(example, tools=_tools(row, data))


def _message_turns(row: _Row, items: list, field: str) -> list[tuple[Message, str]]:
    """OpenAI-style {role, content} messages, each with its path (``messages[2]``) for errors."""
    turns = []
    for i, message in enumerate(items):
        path = f"{field}[{i}]"
        if not isinstance(message, dict):
            raise row.error(path, f"expected an object with 'role' and 'content', got {type_name(message)}")
        written = row.string(message, "role", f"{path}.role")
        role = MESSAGE_ROLES.get(written)
        if role is None:
            raise row.error(f"{path}.role", f"unknown role '{written}'; expected one of {', '.join(MESSAGE_ROLES)}")
        turns.append((_message(row, role, message, path), path))
    return turns


def _message(row: _Row, role: Role, message: dict, path: str) -> Message:
    """One OpenAI-style message: its text, reasoning, tool calls, weight and tool name."""
    texts, reasoning, calls = _content(row, message, path)
    for key in REASONING_KEYS:
        value = row.optional_string(message, key, f"{path}.{key}", allow_empty=True)
        if value and value.strip():
            reasoning.append(value)
    if message.get("tool_calls") is not None:
        calls.extend(_tool_calls(row, message["tool_calls"], f"{path}.tool_calls"))
    if message.get("function_call") is not None:  # OpenAI's older single-call field
        calls.extend(_tool_calls(row, message["function_call"], f"{path}.function_call"))
    if calls and role != "assistant":
        raise row.error(f"{path}.tool_calls", f"only an assistant turn can call tools, not a {role} turn")
    name = message.get("name") or message.get("tool_call_id") or ""
    return Message(role, "\n".join(texts), tool_calls=tuple(calls), reasoning="\n".join(reasoning),
                   name=name if isinstance(name, str) else "", train=_weight(row, role, message, path))


def _weight(row: _Row, role: Role, message: dict, path: str) -> bool | None:
    """An assistant turn's 0/1 weight (OpenAI ``weight``, per-message ``loss_weight``)."""
    for key in ("weight", "loss_weight"):
        if message.get(key) is None:
            continue
        value = message[key]
        if not isinstance(value, int | float) or value not in (0, 1):
            raise row.error(f"{path}.{key}", f"must be 0 (context only) or 1 (trained), got {value!r}; "
                                             "a turn can't be trained partly")
        if role != "assistant":
            if value:
                raise row.error(f"{path}.{key}", f"only assistant turns can be weighted, not a {role} turn; "
                                                 "remove the weight or use dataset.train_on = 'all'")
            continue
        return bool(value)
    return None


def _content(row: _Row, message: dict, path: str) -> tuple[list[str], list[str], list[ToolCall]]:
    """(texts, reasoning, tool calls) of a message's content: a string, null, or typed parts."""
    content = message.get("content")
    if isinstance(content, str):
        return [content], [], []
    if isinstance(content, dict) and message.get("role") in ("tool", "function"):
        return [json.dumps(content, ensure_ascii=False)], [], []  # a tool's result as the JSON it returned
    has_calls = message.get("tool_calls") or message.get("function_call")
    if content is None and (has_calls or message.get("role") == "assistant" and "content" in message):
        return [], [], []
    if not isinstance(content, list):
        got = "missing" if "content" not in message else type_name(content)
        raise row.error(f"{path}.content", f"expected a string or a list of text parts, got {got}")
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for j, part in enumerate(content):
        part_path = f"{path}.content[{j}]"
        if not isinstance(part, dict):
            raise row.error(
                part_path,
                f'expected a part like {{"type": "text", "text": ...}}, got {type_name(part)}',
            )
        kind = part.get("type")
        if kind in TEXT_PARTS or kind in REASONING_PARTS:
            key = next((k for k in ("text", kind, "content") if k in part), None)
            if key is None:
                others = [k for k in part if k != "type"]
                raise row.error(f"{part_path}.text", f"a {kind} part keeps its words under 'text'; this one "
                                                     f"has {', '.join(map(repr, others)) or 'nothing else'}")
            text = row.string(part, key, f"{part_path}.{key}", allow_empty=True)
            (texts if kind in TEXT_PARTS else reasoning).append(text)
        elif kind in CALL_PARTS:
            calls.extend(_tool_calls(row, part, part_path))
        elif kind in MEDIA_PARTS:
            raise row.error(f"{part_path}.type", f"this message has an {kind!r} part; {MEDIA_REFUSAL.format(it='it')}")
        else:
            raise row.error(
                f"{part_path}.type",
                f"unsupported content part type {kind!r}; expected one of "
                f"{', '.join(TEXT_PARTS + REASONING_PARTS + CALL_PARTS)}",
            )
    return texts, reasoning, calls


def _json_value(row: _Row, value: Any, path: str) -> Any:
    """A value that exporters write either as JSON or as a string holding JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise row.error(path, f"expected JSON here, but it does not parse: {e.msg} (column {e.colno})") from None


def _tool_calls(row: _Row, value: Any, path: str) -> tuple[ToolCall, ...]:
    """Calls written as one object or a list of them, in the OpenAI ({"function": {...}}),
    transformers/sharegpt ({"name", "arguments"}) or Anthropic ({"name", "input"}) shape."""
    items = value if isinstance(value, list) else [value]
    calls = []
    for k, item in enumerate(items):
        where = f"{path}[{k}]" if isinstance(value, list) else path
        if not isinstance(item, dict):
            raise row.error(where, f"expected a tool call object with a 'name', got {type_name(item)}")
        nested = item.get("function")
        function: dict[str, Any] = nested if isinstance(nested, dict) else item
        name = function.get("name")
        if not isinstance(name, str) or not name.strip():
            raise row.error(f"{where}.name", "a tool call needs the tool's name")
        key = next((k for k in ("arguments", "parameters", "input") if k in function), None)
        arguments = _json_value(row, function[key], f"{where}.{key}") if key else {}
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise row.error(f"{where}.{key}", f"a tool call's arguments must be a JSON object, "
                                              f"got {type_name(arguments)}")
        call_id = item.get("id")
        calls.append(ToolCall(name, arguments, call_id if isinstance(call_id, str) else ""))
    return tuple(calls)


def tool_definitions(value: Any, *, file: str = "tools") -> tuple[dict[str, Any], ...]:
    """Tool definitions given outside a dataset (a prompt's, a ``--tools`` file's), read as a
    row's ``tools`` column is: a list, one object or JSON text; a DatasetError says what is wrong."""
    return _tools(_Row(file, None, "line"), {"tools": value})


def _tools(row: _Row, data: dict) -> tuple[dict[str, Any], ...]:
    """Tool definitions from a `tools` (or older `functions`) column, list or JSON text,
    each in the {"type": "function", "function": {...}} shape chat templates expect."""
    key = next((k for k in ("tools", "functions") if data.get(k) not in (None, "", [])), None)
    if key is None:
        return ()
    value = _json_value(row, data[key], key)
    if not isinstance(value, list):
        value = [value]
    tools = []
    for k, item in enumerate(value):
        if not isinstance(item, dict):
            raise row.error(f"{key}[{k}]", f"expected a tool definition object, got {type_name(item)}")
        if isinstance(item.get("function"), dict):
            tools.append(item)
        elif isinstance(item.get("name"), str):
            tools.append({"type": "function", "function": item})
        else:
            raise row.error(f"{key}[{k}]", "a tool definition needs a 'name' (or a 'function' with one)")
    return tuple(tools)


def _chat(
    row: _Row, turns: list[tuple[Message, str]], field: str, *, role_key: str, content_key: str
) -> Example:
    if not turns:
        raise row.error(field, "the conversation is empty")
    previous: Role | None = None
    for i, (message, path) in enumerate(turns):
        role, where = message.role, f"{path}.{role_key}" if path != "system" else path
        if role == "system":
            if i != 0:
                raise row.error(where, "a system turn is only allowed as the first turn")
            continue
        if previous is None and role != "user":
            raise row.error(where, f"the conversation must start with a user turn (after an optional system "
                                   f"turn), not {role}")
        if role == previous and role in ("user", "assistant"):
            raise row.error(where, f"two {role} turns in a row; merge them or put the other side's turn between")
        if role == "tool" and previous not in ("assistant", "tool"):
            raise row.error(where, "a tool turn must follow an assistant turn")
        if role == "user" and not message.content.strip() or role == "assistant" and not (
                message.content.strip() or message.tool_calls):
            raise row.error(f"{path}.{content_key}", f"empty {role} turn")
        previous = role
    if not any(m.role == "assistant" for m, _ in turns):
        raise row.error(field, "the conversation has no assistant turn, so there is nothing to learn")
    if not any(m.role == "assistant" and m.train is not False for m, _ in turns):
        raise row.error(field, "every assistant turn has weight 0, so there is nothing to learn; "
                               "give the turn to learn weight 1")
    last, last_path = turns[-1]
    if last.role != "assistant":
        raise row.error(f"{last_path}.{role_key}", f"the conversation ends with a {last.role} turn; the last "
                                                   "turn must be the assistant's reply")
    return Example(kind="chat", messages=tuple(m for m, _ in turns))


def _prompt_completion(row: _Row, data: dict) -> Example:
    prompt = row.string(data, "prompt", "prompt", allow_empty=True)
    completion = row.string(data, "completion", "completion")
    return Example(kind="completion", prompt=prompt, completion=completion)


def _text(row: _Row, data: dict) -> Example:
    return Example(kind="text", text=row.string(data, "text", "text"))


_NORMALIZERS: dict[str, Callable[[_Row, dict], Example]] = {
    "alpaca": _alpaca,
    "sharegpt": _sharegpt,
    "messages": _messages,
    "prompt_completion": _prompt_completion,
    "text": _text,
}


def _short_keys(keys: list[str]) -> str:
    """The first row's keys as an error shows them: a real header's names whole; a file that is
    not a table (its first line read as one long "column") only by its start, not quoted whole."""
    shown = [key if len(key) <= KEY_CHARS else key[:KEY_CHARS - 1] + "…" for key in map(str, keys[:KEYS_SHOWN])]
    more = f" and {len(keys) - KEYS_SHOWN} more" if len(keys) > KEYS_SHOWN else ""
    return f"{shown}{more}"
