"""A string from outside (a file or folder name, a card field, a tag) made safe to print.

Such strings reach the terminal through rich: a ``[/x]`` in a model's folder name was
read as markup and crashed ``lora-studio models``, and escape sequences in an imported
config were obeyed by the terminal (issue 22). Every table cell and message built from
one goes through :func:`shown`.
"""

from __future__ import annotations

from rich.markup import escape

from studio.core.printable import printable


def shown(value: object, keep_newlines: bool = False) -> str:
    """``value`` with no terminal escapes and no rich markup (and no line breaks, unless
    ``keep_newlines``: a worker's message or a generated answer keeps its lines)."""
    return escape(printable(value, keep_newlines=keep_newlines))
