"""Column mapping: a table whose columns have other names (question/answer) read as a format.

A mapping says, for each field a format reads, which column of the file holds it
(``{"instruction": "question", "output": "answer"}``). It is applied to every record
before the format is detected or checked, so detection, checks, preview and training
all see the same renamed rows. ``guess_columns`` offers a mapping from the column
names alone; a person confirms it (CLI ``--map``, the job's ``dataset.columns``, the
Datasets page's mapping dialog) before anything trains on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .readers import RawRecord

# The fields each format reads at the top level of a record (required first).
FORMAT_FIELDS: dict[str, tuple[str, ...]] = {
    "alpaca": ("instruction", "output", "input", "system"),
    "sharegpt": ("conversations", "system", "tools"),
    "messages": ("messages", "tools"),
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
    "preference": ("chosen", "rejected", "prompt", "tools"),
    "preference_sharegpt": ("conversations", "chosen", "rejected", "system", "tools"),
    "preference_alpaca": ("instruction", "chosen", "rejected", "input", "system"),
    "kto": ("prompt", "completion", "label", "tools"),
    "kto_messages": ("messages", "label", "tools"),
    "prompts": ("prompt", "messages", "system", "tools"),
}
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "alpaca": ("instruction", "output"),
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
    "preference": ("chosen", "rejected"),
    "preference_sharegpt": ("conversations", "chosen", "rejected"),
    "preference_alpaca": ("instruction", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
    "kto_messages": ("messages", "label"),
    "prompts": ("prompt",),
}
# The order in which a mapping is guessed from names alone: pairs and labelled replies first, since
# their tell-tale columns (chosen/rejected, label) would otherwise be dropped by an SFT guess.
_GUESS_ORDER = ("preference_sharegpt", "preference", "kto_messages", "messages", "sharegpt", "kto", "alpaca",
                "prompt_completion", "prompts", "text")

# Column names people use for each field, most telling first (compared case-insensitively).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "instruction": ("instruction", "question", "query", "prompt", "input_text", "problem", "request", "q",
                    "user", "human"),
    "output": ("output", "answer", "response", "completion", "target", "solution", "reply", "a", "assistant",
               "gpt", "label_text"),
    "input": ("input", "context", "passage"),
    "system": ("system", "system_prompt", "sys"),
    "conversations": ("conversations", "conversation", "turns"),
    "messages": ("messages", "dialog", "dialogue", "chat"),
    "tools": ("tools", "functions"),
    "text": ("text", "content", "body", "document", "passage", "raw_text"),
    "chosen": ("chosen", "preferred", "chosen_response", "response_chosen", "better", "accepted", "winner"),
    "rejected": ("rejected", "dispreferred", "rejected_response", "response_rejected", "worse", "loser"),
    "label": ("label", "kto_tag", "desirable", "is_desirable"),
}
_SYNONYMS["prompt"] = _SYNONYMS["instruction"]  # a prompt/completion pair is named as an instruction/output one
_SYNONYMS["completion"] = _SYNONYMS["output"]


@dataclass(frozen=True)
class ColumnGuess:
    format: str
    mapping: dict[str, str]  # field -> column, only where the column's name differs from the field

    def as_option(self) -> str:
        """The mapping as the CLI takes it: ``instruction=question,output=answer``."""
        return ",".join(f"{field}={column}" for field, column in self.mapping.items())


def apply_columns(records: Sequence[RawRecord], mapping: Mapping[str, str]) -> list[RawRecord]:
    """Records with each mapped column renamed to its field (other columns kept as they are)."""
    if not mapping:
        return list(records)
    sources = set(mapping.values())
    out = []
    for record in records:
        if not isinstance(record.data, dict) or record.error is not None:
            out.append(record)
            continue
        data = {key: value for key, value in record.data.items() if key not in sources}
        for field, column in mapping.items():
            if column in record.data:
                data[field] = record.data[column]
        out.append(replace(record, data=data))
    return out


def unknown_columns(mapping: Mapping[str, str], columns: Sequence[str]) -> list[str]:
    """The mapped columns the file does not have (a typo the user should hear about)."""
    return [column for column in mapping.values() if column not in columns]


def guess_columns(columns: Sequence[str]) -> ColumnGuess | None:
    """The format and mapping the column names suggest, or None when they suggest nothing.

    A format is offered only when each of its required fields finds a column; preference
    pairs and labelled replies win over chats, chats (messages, conversations) over
    instruction/answer pairs, those over plain text."""
    for fmt in _GUESS_ORDER:
        if all(field in columns for field in REQUIRED_FIELDS[fmt]):
            return ColumnGuess(fmt, {})
    by_lower = {column.lower().strip(): column for column in columns}
    for fmt in _GUESS_ORDER:
        chosen: dict[str, str] = {}
        used: set[str] = set()
        for field in FORMAT_FIELDS[fmt]:
            names = _SYNONYMS.get(field, (field,))
            column = next((by_lower[n] for n in names if n in by_lower and by_lower[n] not in used), None)
            if column is None:
                continue
            chosen[field] = column
            used.add(column)
        if all(field in chosen for field in REQUIRED_FIELDS[fmt]):
            mapping = {field: column for field, column in chosen.items() if field != column}
            return ColumnGuess(fmt, mapping)
    return None
