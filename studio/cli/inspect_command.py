"""``lora-studio datasets inspect``: a dataset file as training would read it, before training.

It reads the file with the job's dataset settings (``--job``, ``--map``, ``--on-bad-rows``…),
lists every bad row, and says what training would do with them: skip them, or refuse the
file (exit 3, as the worker would). The rule is core's (``bad_rows_refusal``), not a copy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from studio.cli.dataset_check import map_hint, print_problems
from studio.cli.job_building import build_train_job
from studio.core import paths, protocol
from studio.core.chat_segments import call_summary, clip, tools_summary
from studio.core.datasets import (
    DatasetError,
    Example,
    Message,
    load_dataset_file,
    preview,
    token_length_stats,
)
from studio.core.datasets.job_check import check_file, rows_verdict
from studio.core.datasets.refusals import format_hint
from studio.core.datasets.stages import rows_of, stage_choice
from studio.core.job_schema import Issue, JobError
from studio.core.jobs import DatasetSettings, TrainJob

_REASONING_CHARS = 80  # reasoning is shown briefly: that the turn has it, and how it starts
_DATASET_FLAGS = ("format", "text_split", "on_bad_rows", "bad_rows_limit", "columns", "variables")


def cmd_datasets_inspect(args: argparse.Namespace, console: Console) -> int:
    try:
        settings = _settings(args)
    except JobError as exc:
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
        return protocol.EXIT_BAD_JOB
    check, head = check_file(settings)
    if not check.ok:
        print_problems(check, console)
        return protocol.EXIT_DATA
    path = check.path
    try:
        loaded = load_dataset_file(path, settings.format, on_error="skip", bad_rows_limit=None,
                                   columns=settings.columns, text_split=settings.text_split,
                                   variables=settings.variables)
    except (DatasetError, OSError) as exc:  # OSError: gone or locked since its first rows were read
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
        return protocol.EXIT_DATA
    mapped = f" (--map {_as_option(settings.columns)})" if settings.columns else ""
    console.print(f"[bold]{escape(str(path))}[/bold]: format [cyan]{loaded.format}[/cyan]{escape(mapped)}, "
                  f"{loaded.rows_total} rows, {len(loaded.examples)} good, {loaded.rows_skipped} bad, "
                  f"fingerprint {loaded.fingerprint}")
    if (rows := rows_of(loaded.format)) != "replies":
        what = "preference pairs (prompt, chosen, rejected)" if rows == "pairs" else \
            "replies labelled desirable or undesirable (KTO)"
        console.print(f"[cyan]{escape(what)}[/cyan]: they train with {escape(stage_choice(rows))}; "
                      "fine-tuning (training.stage = sft) refuses them")
    for issue in loaded.issues[: args.max_issues]:
        field = f", field '{issue.field}'" if issue.field else ""
        console.print(f"  [red]bad row[/red] {escape(f'{path.name}: {issue.row}{field}: {issue.reason}')}")
    if len(loaded.issues) > args.max_issues:
        console.print(f"  … and {len(loaded.issues) - args.max_issues} more")
    verdict = rows_verdict(settings, loaded)
    if verdict:
        console.print(f"[red bold]training would refuse this file:[/red bold] {escape(verdict)}")
        guess = format_hint(check.columns, loaded.format, head)  # none that would repeat the refusal
        if not loaded.examples and (hint := map_hint(guess, verdict)):
            console.print(f"[yellow]{escape(hint)}[/yellow]")
    elif loaded.issues:
        console.print(f"[yellow]training would skip these {loaded.rows_skipped} rows[/yellow] "
                      f"({loaded.rows_skipped / loaded.rows_total:.1%} of the file; up to "
                      f"{settings.bad_rows_limit:.0%} may be skipped, --bad-rows-limit)")
    for warning in loaded.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    _show_preview(console, path, args.rows, settings)
    tokenizer_json = _tokenizer_for(args.tokenizer)
    if tokenizer_json is not None and loaded.examples:
        try:
            stats = token_length_stats(loaded.examples, tokenizer_json, args.max_length)
        except (OSError, ValueError) as exc:  # no such file, not a tokenizer.json, bad --max-length
            console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
            return protocol.EXIT_BAD_JOB
        console.print(f"tokens per example (plain render, {escape(tokenizer_json.parent.name)}): min {stats.min}, "
                      f"median {stats.median:.0f}, p95 {stats.p95:.0f}, max {stats.max}; "
                      f"{stats.truncated_fraction:.1%} longer than {args.max_length}")
        if stats.chosen_lengths:
            console.print(f"  pairs: prompt + chosen up to {max(stats.chosen_lengths)} tokens, prompt + rejected up "
                          f"to {max(stats.rejected_lengths)}; an example's length is its longer sequence")
    return protocol.EXIT_DATA if verdict else 0


def _as_option(columns: dict[str, str]) -> str:
    return ",".join(f"{field}={column}" for field, column in columns.items())


def _settings(args: argparse.Namespace) -> DatasetSettings:
    """The dataset settings of ``--job`` (or the defaults), with FILE and the flags over them."""
    if args.file is None and args.job is None:
        raise JobError([Issue("", "name a dataset file (or 'bundled'), or a job file with --job")], "the command line")
    flags = {name: getattr(args, name, None) for name in _DATASET_FLAGS}
    job = build_train_job(argparse.Namespace(job=args.job, dataset=args.file, **flags))
    if not isinstance(job, TrainJob):
        raise JobError([Issue("kind", f"is '{job.kind}'; only a train job has a dataset")], str(args.job))
    return job.dataset


def _show_preview(console: Console, path: Path, rows: int, settings: DatasetSettings) -> None:
    shown = preview(path, n=rows, format=settings.format, columns=settings.columns, text_split=settings.text_split)
    if shown.format is not None and rows_of(shown.format) != "replies":
        _show_preference(console, shown.examples)
        return
    table = Table(title=f"first {len(shown.examples)} examples")
    table.add_column("row")
    table.add_column("kind")
    table.add_column("content", overflow="fold")
    for ex in shown.examples:
        if ex.kind == "chat":
            body = _tools(ex) + _turns(ex.messages)
        elif ex.kind == "completion":
            body = f"[b]prompt[/b]: {escape(ex.prompt)}\n[b]completion[/b]: {escape(ex.completion)}"
        else:
            body = escape(ex.text)
        table.add_row(ex.source, ex.kind, body)
    console.print(table)


def _show_preference(console: Console, examples: list[Example]) -> None:
    """Pairs with the chosen and the rejected reply side by side; KTO rows with their label."""
    pairs = any(ex.kind == "preference" for ex in examples)
    table = Table(title=f"first {len(examples)} {'pairs' if pairs else 'labelled replies'}")
    table.add_column("row")
    table.add_column("prompt", overflow="fold")
    for name in ("chosen", "rejected") if pairs else ("reply", "label"):
        table.add_column(name, overflow="fold")
    for ex in examples:
        if ex.kind == "preference":
            table.add_row(ex.source, _tools(ex) + _turns(ex.messages), _turns(ex.chosen), _turns(ex.rejected))
        elif ex.kind == "kto":
            label = "[green]desirable[/green]" if ex.desirable else "[red]undesirable[/red]"
            table.add_row(ex.source, _tools(ex) + _turns(ex.messages), _turns(ex.response), label)
    console.print(table)


def _tools(example: Example) -> str:
    """The row's tool definitions by name, once, above its turns ("" for a row without)."""
    return f"[b]tools[/b]: [cyan]{escape(tools_summary(example.tools))}[/cyan]\n" if example.tools else ""


def _turns(messages: tuple[Message, ...]) -> str:
    """Turns as "role: text" lines; the rows' text is data, not markup: "[/INST]" must show as is."""
    return "\n".join(_turn(m) for m in messages)


def _turn(message: Message) -> str:
    """One turn: its reasoning (cut short), its text, and each tool call as ``name({json})``; a
    tool's result says so, with the tool's name (or call id) when the row gives it."""
    role = f"tool result{f' ({message.name})' if message.name else ''}" if message.role == "tool" else message.role
    lines = [f"[b]{escape(role)}[/b] [dim]thinking[/dim]: {escape(clip(message.reasoning, _REASONING_CHARS))}"
             ] if message.reasoning else []
    if message.content or not message.tool_calls:
        lines.append(f"[b]{escape(role)}[/b]: {escape(message.content)}")
    lines += [f"[b]{escape(role)}[/b] calls [cyan]{escape(call_summary(call.name, call.arguments))}[/cyan]"
              for call in message.tool_calls]
    return "\n".join(lines)


def _tokenizer_for(setting: str | None) -> Path | None:
    """A tokenizer.json: given, inside a model folder, or from a converted model in the cache."""
    if setting:
        path = Path(setting)
        return path / "tokenizer.json" if path.is_dir() else path
    found = sorted(paths.models_dir().glob("*/tokenizer.json"))
    return found[0] if found else None
