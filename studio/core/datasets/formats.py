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
                     -> chat. from: human/user, gpt/assistant/model, system, tool
  messages           messages: [{role, content}] -> chat. role: system, user,
                     assistant, tool; content: a string or a list of typed parts
                     [{"type": "text", "text": ...}], joined with "\\n" so words
                     from two parts never run together
  prompt_completion  prompt, completion -> completion (the prompt may be empty)
  text               text (or a .txt paragraph) -> text

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

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from .errors import DatasetError, RowUnit, type_name
from .readers import RawRecord

Role = Literal["system", "user", "assistant", "tool"]
ExampleKind = Literal["chat", "completion", "text"]

SHAREGPT_ROLES: dict[str, Role] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
    "tool": "tool",
}
MESSAGE_ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")

# Detection order matters only for ties: a row with both "messages" and "text" is a chat.
_DETECT_KEYS: dict[str, tuple[str, ...]] = {
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "alpaca": ("instruction", "output"),
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
}
FORMAT_NAMES: tuple[str, ...] = tuple(_DETECT_KEYS)
FORMAT_HELP: dict[str, str] = {
    "alpaca": "instruction, output (optional input, system)",
    "sharegpt": "conversations: [{from, value}, ...]",
    "messages": "messages: [{role, content}, ...]",
    "prompt_completion": "prompt, completion",
    "text": "text (or paragraphs of a .txt file)",
}
_DETECT_SAMPLE = 10  # rows looked at; a few bad rows at the top must not decide the format


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Example:
    """One training example, whatever file and format it came from."""

    kind: ExampleKind
    messages: tuple[Message, ...] = ()  # kind == "chat"
    prompt: str = ""  # kind == "completion"
    completion: str = ""  # kind == "completion"
    text: str = ""  # kind == "text"
    source: str = ""  # where it came from: "line 7", "row 3"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (messages as [{role, content}]), e.g. for a worker."""
        return asdict(self) | {"messages": [asdict(m) for m in self.messages]}


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
        for name, keys in _DETECT_KEYS.items():
            if all(k in data for k in keys):
                votes[name] += 1
                break
    if not votes:
        expected = "; ".join(f"{name} ({FORMAT_HELP[name]})" for name in FORMAT_NAMES)
        raise DatasetError(
            file,
            None,
            None,
            f"cannot tell the dataset format from the keys {first_keys}; expected one of: {expected}",
        )
    best = max(votes.values())
    return next(name for name in FORMAT_NAMES if votes[name] == best)


def normalize_record(record: RawRecord, format: str, *, file: str) -> Example:
    """Check one record against `format` and turn it into an Example.

    Raises the record's own read error, or a DatasetError naming the field.
    """
    if format not in _NORMALIZERS:
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
    return replace(_NORMALIZERS[format](row, record.data), source=record.label)


@dataclass(frozen=True)
class _Row:
    file: str
    row: int
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
    instruction = row.string(data, "instruction", "instruction")
    extra = row.optional_string(data, "input", "input", allow_empty=True)
    output = row.string(data, "output", "output")
    system = row.optional_string(data, "system", "system", allow_empty=True)
    user = instruction + ("\n\n" + extra if extra and extra.strip() else "")
    messages = [Message("user", user), Message("assistant", output)]
    if system and system.strip():
        messages.insert(0, Message("system", system))
    return Example(kind="chat", messages=tuple(messages))


def _sharegpt(row: _Row, data: dict) -> Example:
    turns: list[tuple[Message, str]] = []
    system = row.optional_string(data, "system", "system", allow_empty=True)
    if system and system.strip():
        turns.append((Message("system", system), "system"))
    for i, turn in enumerate(row.items(data, "conversations")):
        path = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise row.error(
                path, f"expected an object with 'from' and 'value', got {type_name(turn)}"
            )
        speaker = row.string(turn, "from", f"{path}.from")
        role = SHAREGPT_ROLES.get(speaker.strip().lower())
        if role is None:
            raise row.error(
                f"{path}.from",
                f"unknown role '{speaker}'; expected one of {', '.join(SHAREGPT_ROLES)}",
            )
        value = row.string(turn, "value", f"{path}.value", allow_empty=True)
        turns.append((Message(role, value), path))
    return _chat(row, turns, "conversations", role_key="from", content_key="value")


def _messages(row: _Row, data: dict) -> Example:
    turns: list[tuple[Message, str]] = []
    for i, message in enumerate(row.items(data, "messages")):
        path = f"messages[{i}]"
        if not isinstance(message, dict):
            raise row.error(
                path, f"expected an object with 'role' and 'content', got {type_name(message)}"
            )
        role = row.string(message, "role", f"{path}.role")
        if role not in MESSAGE_ROLES:
            raise row.error(
                f"{path}.role", f"unknown role '{role}'; expected one of {', '.join(MESSAGE_ROLES)}"
            )
        turns.append((Message(role, _content(row, message, path)), path))
    return _chat(row, turns, "messages", role_key="role", content_key="content")


def _content(row: _Row, message: dict, path: str) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        got = "missing" if "content" not in message else type_name(content)
        raise row.error(f"{path}.content", f"expected a string or a list of text parts, got {got}")
    texts = []
    for j, part in enumerate(content):
        part_path = f"{path}.content[{j}]"
        if not isinstance(part, dict):
            raise row.error(
                part_path,
                f'expected a part like {{"type": "text", "text": ...}}, got {type_name(part)}',
            )
        kind = part.get("type")
        if kind != "text":
            raise row.error(
                f"{part_path}.type",
                f"unsupported content part type {kind!r}; only 'text' parts can be trained on",
            )
        texts.append(row.string(part, "text", f"{part_path}.text", allow_empty=True))
    return "\n".join(texts)


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
            raise row.error(
                where,
                f"the conversation must start with a user turn (after an optional system turn), not {role}",
            )
        if role == previous and role in ("user", "assistant"):
            raise row.error(
                where, f"two {role} turns in a row; merge them or put the other side's turn between"
            )
        if role == "tool" and previous not in ("assistant", "tool"):
            raise row.error(where, "a tool turn must follow an assistant turn")
        if role in ("user", "assistant") and not message.content.strip():
            raise row.error(f"{path}.{content_key}", f"empty {role} turn")
        previous = role
    if not any(m.role == "assistant" for m, _ in turns):
        raise row.error(
            field, "the conversation has no assistant turn, so there is nothing to learn"
        )
    last, last_path = turns[-1]
    if last.role != "assistant":
        raise row.error(
            f"{last_path}.{role_key}",
            f"the conversation ends with a {last.role} turn; the last turn must be the assistant's reply",
        )
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
