"""A job's reward tables checked where the job is made (the Train page, the CLI), running no user code.

The worker builds the rewards (``combined_from_specs``) and runs a user's reward.py; the GUI and
the CLI only read the tables: a preset's settings are checked by building the preset (plain
data), a user file by its path and by reading its ``COLUMNS`` with ``ast`` instead of importing it.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from studio.core.rewards import PRESETS, USER_FILE_KIND, RewardSettingsError, reward_from_spec


def spec_label(spec: Mapping[str, Any], index: int) -> str:
    """How a table is named in messages: its label, else its kind, with its place ("2: regex")."""
    return f"{index + 1}: {spec.get('label') or spec.get('kind') or '?'}"


def spec_problems(specs: Sequence[Any]) -> list[str]:
    """Every problem with the tables, each naming its reward (empty when all can be built)."""
    if not specs:
        return ["no reward chosen: add one with 'Add a reward…' on the Train page, --reward KIND:KEY=VALUE "
                f"on the command line, or a [[grpo.rewards]] table in a job file (kinds: "
                f"{', '.join([*PRESETS, USER_FILE_KIND])})"]
    problems = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            problems.append(f"reward {index + 1} must be a table such as {{kind = 'numeric_match', column = "
                            f"'answer'}}, got {type(spec).__name__}")
            continue
        weight = spec.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            problems.append(f"reward {spec_label(spec, index)}: weight must be a finite number, got {weight!r}")
        if spec.get("kind") == USER_FILE_KIND:
            problems.extend(f"reward {spec_label(spec, index)}: {p}" for p in _file_problems(spec))
            continue
        try:
            reward_from_spec(spec)
        except RewardSettingsError as error:  # it names the kind
            problems.append(f"reward {index + 1}: {error}")
        except TypeError as error:  # a setting of the wrong type (a word where a number is wanted)
            problems.append(f"reward {spec_label(spec, index)}: a setting has the wrong type ({error})")
    return problems


def _file_problems(spec: Mapping[str, Any]) -> list[str]:
    extra = sorted(set(spec) - {"kind", "path", "weight", "label"})
    if extra:
        return [f"a file reward takes only path (and weight, label), not {', '.join(extra)}"]
    path = Path(str(spec.get("path", ""))).expanduser()
    if not spec.get("path"):
        return ["give the path of your reward.py (path = '...')"]
    if path.suffix != ".py":
        return [f"{path} must be a Python file (.py) defining reward(prompts, completions, **columns)"]
    if not path.is_file():
        return [f"{path} does not exist"]
    return []


def declared_columns(path: str | Path) -> tuple[str, ...]:
    """A user file's module-level ``COLUMNS = [...]``, read without running the file (none when it has
    none, or it is not a plain list of names)."""
    try:
        tree = ast.parse(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, given = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, given = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "COLUMNS" for t in targets):
            try:
                value = ast.literal_eval(given)
            except ValueError:
                return ()
            if isinstance(value, list | tuple) and all(isinstance(name, str) for name in value):
                return tuple(value)
    return ()


def columns_by_reward(specs: Sequence[Any]) -> dict[str, tuple[str, ...]]:
    """The dataset columns each buildable table reads, by its label (the preview shows them)."""
    found: dict[str, tuple[str, ...]] = {}
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            continue
        label = spec_label(spec, index)
        if spec.get("kind") == USER_FILE_KIND:
            found[label] = declared_columns(str(spec.get("path", "")))
            continue
        try:
            found[label] = reward_from_spec(spec).columns()
        except (RewardSettingsError, TypeError):
            continue
    return found


def missing_columns(specs: Sequence[Any], available: Iterable[str]) -> list[str]:
    """One line per reward that reads a column the dataset lacks."""
    there = sorted(set(available))
    return [f"reward {label} reads column {column!r}, which the dataset lacks; its columns are "
            f"{', '.join(there) or 'none'}"
            for label, needed in columns_by_reward(specs).items() for column in needed if column not in there]


def parse_spec_line(text: str) -> dict[str, Any]:
    """``numeric_match:column=answer,weight=2`` (or a JSON table) as a reward table; each value read as
    JSON where it parses (numbers, lists, tables), else as text. The CLI's --reward and a line of the
    Train page's rewards box. Raises ValueError saying what was expected."""
    text = text.strip()
    if text.startswith("{"):
        try:
            table = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not a JSON table: {error}") from None
        if not isinstance(table, dict):
            raise ValueError(f'expected a JSON table such as {{"kind": "regex"}}; got {text!r}')
        return table
    kind, _sep, rest = text.partition(":")
    spec: dict[str, Any] = {"kind": kind.strip()}
    for item in _settings(rest):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KIND:KEY=VALUE,... such as numeric_match:column=answer; got {text!r}")
        try:
            spec[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            spec[key.strip()] = raw
    return spec


def _settings(text: str) -> list[str]:
    """``a=1,words=["x","y"],b=2`` split on the commas outside brackets and quotes."""
    items, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote and text[index - 1] != "\\" else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:index])
            start = index + 1
    items.append(text[start:])
    return [item for item in items if item.strip()]


def spec_line(spec: Mapping[str, Any]) -> str:
    """A reward table as one ``kind:key=value,...`` line (values as JSON where text would be ambiguous)."""
    settings = [f"{key}={_value(value)}" for key, value in spec.items() if key != "kind"]
    return f"{spec.get('kind', '')}:{','.join(settings)}" if settings else str(spec.get("kind", ""))


def _value(value: Any) -> str:
    if isinstance(value, str) and not any(c in value for c in ',[]{}"') and value.strip() == value:
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return value  # plain text reads back as itself
    return json.dumps(value, ensure_ascii=False)
