"""Template placeholders in data (``{{name}}``, ``{{author}}``): filled in, or said out loud.

Identity datasets ship with placeholders for the user to fill ("I am {{name}}, made by
{{author}}"). Trained literally, the adapter answers "I am {{name}}". The job's
``dataset.variables`` fills them; any left without a value are reported before
training, with the rows they are in, so the user can add the value or keep them on
purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from .formats import Example, Message

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _map_texts(example: Example, change: Callable[[str], str]) -> Example:
    def turns(messages: tuple[Message, ...]) -> tuple[Message, ...]:
        return tuple(replace(m, content=change(m.content)) for m in messages)

    return replace(
        example,
        messages=turns(example.messages),
        chosen=turns(example.chosen),
        rejected=turns(example.rejected),
        response=turns(example.response),
        prompt=change(example.prompt),
        completion=change(example.completion),
        text=change(example.text),
    )


def fill_placeholders(examples: Sequence[Example],
                      variables: Mapping[str, str]) -> tuple[list[Example], list[str], list[str]]:
    """Examples with every ``{{name}}`` that has a value replaced, one warning per placeholder
    left without one (how many rows, the first row's place), and every placeholder name the
    data holds, filled or not (what a form asks values for)."""
    missing: dict[str, list[str]] = {}
    names: dict[str, None] = {}
    out = []
    for example in examples:
        found: set[str] = set()

        def change(text: str, found: set[str] = found) -> str:
            if "{{" not in text:
                return text

            def fill(match: re.Match[str]) -> str:
                name = match.group(1)
                names[name] = None
                if name in variables:
                    return variables[name]
                found.add(name)
                return match.group(0)

            return PLACEHOLDER.sub(fill, text)

        out.append(_map_texts(example, change))
        for name in found:
            missing.setdefault(name, []).append(example.source)
    warnings = [
        f"{len(rows)} row(s) hold the placeholder {{{{{name}}}}} (first at {rows[0] or 'row 0'}) and no value "
        f"is set for it, so it is trained as written; set dataset.variables (e.g. {name} = \"...\") to fill it"
        for name, rows in sorted(missing.items())
    ]
    return out, warnings, list(names)
