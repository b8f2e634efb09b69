"""The terminal view of a worker's events shows their texts as written (issue 22): a prompt, a
warning or an error quoting a dataset row or a model's file may hold rich markup ("[/x]") or
terminal escape sequences; the markup is printed as text, the escape sequences are dropped."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from studio.cli.progress import EventPrinter
from studio.core import protocol

RED = "\x1b[31m"  # colours what follows
TITLE = "\x1b]0;pwned\x07"  # retitles the terminal window


def printed(lines: list[str], terminal: bool = False) -> str:
    """What the printer shows for these worker stdout lines (decoded as the CLI decodes them)."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=200, color_system=None)
    with EventPrinter(console) as printer:
        for line in lines:
            printer.show(protocol.decode(line))
    return out.getvalue()


def encoded(event: protocol.Event) -> str:
    return protocol.encode(event)


EVENTS = {
    "warning": (protocol.Warning(f"row 3 of {RED}data[/x].jsonl{TITLE} is long"),
                "warning: row 3 of data[/x].jsonl is long"),
    "error": (protocol.Error("data", f"{RED}[/x] bad row", hint=f"fix [/x]{TITLE} it"),
              "error (data): [/x] bad row"),
    "hint": (protocol.Error("data", "bad row", hint=f"fix [/x]{TITLE} it"), "hint: fix [/x] it"),
    "sample": (protocol.Sample(step=2, prompt=f"[INST]{RED}hi[/INST]", text=f"a{TITLE}[/x]b"),
               "sample '[INST]hi[/INST]' → 'a[/x]b'"),
    "generate sample": (protocol.Sample(step=0, prompt="p", text="t", adapter=f"[/x]{RED}pirate"),
                        "sample [[/x]pirate] 'p' → 't'"),
    "phase": (protocol.Phase("preparing_data", detail=f"{RED}rows[/x]{TITLE}"), "preparing_data rows[/x]"),
    "counted phase": (protocol.Phase("evaluating", done=1, total=1, detail=f"[/x]{RED}held-out"),
                      "evaluating [/x]held-out 1/1"),
    "checkpoint": (protocol.Checkpoint(step=3, path=f"/runs/[/x]{RED}/checkpoint-3"),
                   "checkpoint at step 3: /runs/[/x]/checkpoint-3"),
    "completions": (protocol.Completions(step=4, samples=[{
        "prompt": "q", "completion": f"{RED}[/x] forty{TITLE}two", "rewards": {f"[/x]{RED}len": 0.5},
        "total": 0.5}]), "answers at step 4: '[/x] fortytwo' → reward 0.50 ([/x]len 0.50)"),
}


@pytest.mark.parametrize("name", list(EVENTS))
def test_an_event_text_is_shown_as_written_without_its_escape_sequences(name: str) -> None:
    event, expected = EVENTS[name]
    text = printed([encoded(event)])
    assert "\x1b" not in text and "\x07" not in text, repr(text)
    assert expected in text, text


def test_a_counted_phase_in_a_terminal_shows_its_detail_without_escape_sequences() -> None:
    text = printed([encoded(protocol.Phase("evaluating", done=done, total=2, detail=f"[/x]{RED}rows"))
                    for done in range(3)], terminal=True)
    assert "[/x]rows" in text, text
    assert RED not in text and "\x1b[31" not in text  # color_system=None: rich itself adds no colours


def test_an_error_message_keeps_its_lines() -> None:
    text = printed([encoded(protocol.Error("config", f"two problems:\n{RED}lora.r must be > 0\nlr [/x]"))])
    assert "two problems:\nlora.r must be > 0\nlr [/x]" in text, text
