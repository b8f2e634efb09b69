"""``lora-studio settings``: the settings the app and the CLI share (``<home>/settings.json``)."""

from __future__ import annotations

import argparse
import json
import warnings
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from studio.core import paths, protocol
from studio.core import settings as user_settings
from studio.core.records import field_types

SHOWN_CHARS = 60  # a long value (the Train form's last job) is cut in the table; --json has it whole


def add_settings_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("settings", help="show or change the settings the app and the CLI share")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one (VALUE as JSON, or plain text), e.g. --set theme=dark")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_settings)


def cmd_settings(args: argparse.Namespace, console: Console) -> int:
    try:
        changes = dict(parse_setting(text) for text in args.set)
    except ValueError as exc:
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
        return protocol.EXIT_BAD_JOB
    settings = user_settings.update(**changes) if changes else user_settings.load()
    if args.json:
        console.print_json(json.dumps(settings.to_dict()))
        return 0
    table = Table(title=f"Settings ({paths.settings_file()})")
    for column in ("key", "value", "what it is"):
        table.add_column(column, overflow="fold")
    for name in field_types(user_settings.Settings):
        shown = json.dumps(getattr(settings, name), ensure_ascii=False)
        shown = shown if len(shown) <= SHOWN_CHARS else shown[:SHOWN_CHARS - 1] + "…"
        table.add_row(name, escape(shown), escape(user_settings.help_of(name)))
    console.print(table)
    return 0


def parse_setting(text: str) -> tuple[str, Any]:
    """("theme", "dark") from "theme=dark"; ValueError naming what is wrong."""
    key, sep, raw = text.partition("=")
    names = list(field_types(user_settings.Settings))
    if not sep or key not in names:
        raise ValueError(f"{text!r}: expected KEY=VALUE with KEY one of {', '.join(names)}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # plain text: --set vram_card=16 GiB (RTX 4080, T4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        user_settings.Settings.from_dict({key: value}, "--set")
    if caught:
        raise ValueError(str(caught[0].message))
    return key, value
