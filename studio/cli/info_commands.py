"""Read-only commands: ``models``, ``datasets inspect``, ``runs``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from studio.core import paths, protocol, runs
from studio.core import settings as user_settings
from studio.core.datasets import DatasetError, load_dataset_file, preview, token_length_stats
from studio.core.models import discover_models_with_problems
from studio.core.resources import resolve_dataset_path


def cmd_models(args: argparse.Namespace, console: Console) -> int:
    for folder in args.add:
        user_settings.add_model_folder(folder)
    for folder in args.forget:
        user_settings.remove_model_folder(str(Path(folder).expanduser().absolute()))
    remembered = user_settings.load().model_paths()  # the Models page's folders too
    models, problems = discover_models_with_problems(extra_paths=[*remembered, *map(Path, args.path)])
    if args.json:
        console.print_json(json.dumps([m.to_dict() for m in models], default=str))
        return 0
    table = Table(title="Base models")
    for column in ("name", "source", "architecture", "parameters", "layers", "hidden", "dtype / quant", "id"):
        table.add_column(column)
    for m in models:
        params = _param_count(m.num_parameters)
        table.add_row(m.name, m.source, m.architecture, params, str(m.num_layers or "?"),
                      str(m.hidden_size or "?"), m.quantization or m.dtype or "?", m.id)
    console.print(table)
    for path, reason in problems:
        console.print(f"[yellow]skipped[/yellow] {escape(f'{path}: {reason}')}")
    return 0


def cmd_datasets_inspect(args: argparse.Namespace, console: Console) -> int:
    path = resolve_dataset_path(args.file)
    try:
        loaded = load_dataset_file(path, args.format, on_error="skip")
    except DatasetError as exc:
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
        return protocol.EXIT_DATA
    console.print(f"[bold]{escape(str(path))}[/bold]: format [cyan]{loaded.format}[/cyan], {loaded.rows_total} rows, "
                  f"{len(loaded.examples)} good, {loaded.rows_skipped} bad, fingerprint {loaded.fingerprint}")
    for issue in loaded.issues[: args.max_issues]:
        field = f", field '{issue.field}'" if issue.field else ""
        console.print(f"  [red]bad row[/red] {escape(f'{path.name}: {issue.row}{field}: {issue.reason}')}")
    if len(loaded.issues) > args.max_issues:
        console.print(f"  … and {len(loaded.issues) - args.max_issues} more")
    shown = preview(path, n=args.rows, format=args.format)
    table = Table(title=f"first {len(shown.examples)} examples")
    table.add_column("row")
    table.add_column("kind")
    table.add_column("content", overflow="fold")
    for ex in shown.examples:  # the rows' text is data, not markup: "[/INST]" must show as is
        if ex.kind == "chat":
            body = "\n".join(f"[b]{m.role}[/b]: {escape(m.content)}" for m in ex.messages)
        elif ex.kind == "completion":
            body = f"[b]prompt[/b]: {escape(ex.prompt)}\n[b]completion[/b]: {escape(ex.completion)}"
        else:
            body = escape(ex.text)
        table.add_row(ex.source, ex.kind, body)
    console.print(table)
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
    return protocol.EXIT_DATA if loaded.issues else 0


def _tokenizer_for(setting: str | None) -> Path | None:
    """A tokenizer.json: given, inside a model folder, or from a converted model in the cache."""
    if setting:
        path = Path(setting)
        return path / "tokenizer.json" if path.is_dir() else path
    found = sorted(paths.models_dir().glob("*/tokenizer.json"))
    return found[0] if found else None


def cmd_runs(args: argparse.Namespace, console: Console) -> int:
    found = runs.list_runs()
    if args.json:
        # The done outputs as the worker wrote them; ``trained`` is the same, read as a record.
        console.print_json(json.dumps([{**{k: v for k, v in r.__dict__.items() if k != "trained"}, "path": str(r.path)}
                                       for r in found], default=str))
        return 0
    table = Table(title=f"Runs in {paths.runs_dir()}")
    for column in ("run", "status", "method", "model", "steps", "final loss", "eval loss", "note"):
        table.add_column(column)
    colours = {"done": "green", "stopped": "cyan", "running": "yellow", "failed": "red", "cancelled": "magenta"}
    for r in found:
        table.add_row(r.run_id, f"[{colours.get(r.status, 'white')}]{r.status}[/]", r.method,
                      Path(r.model).name if r.model not in ("", "bundled") else (r.model or "?"),
                      f"{r.step}/{r.total_steps}", _fmt(r.final_loss), _fmt(r.eval_loss), escape(r.message[:60]))
    console.print(table)
    return 0


def _param_count(n: int | None) -> str:
    """135M, 1,235M; a test-sized model as 151K rather than "0M"."""
    if not n:
        return "?"
    return f"{n / 1e6:,.0f}M" if n >= 1e6 else f"{n / 1e3:,.0f}K"


def _fmt(value: float | None) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"



DOCTOR_STYLE = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red bold]fail[/red bold]",
                "info": "[blue]info[/blue]"}


def cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    """Exit 1 when a check fails (a warning alone still exits 0)."""
    from studio.core import doctor

    checks = doctor.run_checks()
    if args.json:
        console.print_json(doctor.as_json(checks))
    else:
        table = Table(title="LoRA Studio system check")
        for column in ("check", "", "what was found", "fix"):
            table.add_column(column)
        for check in checks:
            table.add_row(check.name, DOCTOR_STYLE[check.status], escape(check.detail), escape(check.fix))
        console.print(table)
    return 1 if doctor.worst(checks) == doctor.FAIL else 0


def cmd_download(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from studio.core import hub

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"downloading {args.repo}", total=None)

        def progress(done: int, total: int, _file: str) -> None:
            bar.update(task, completed=done, total=total or None)

        try:
            folder = hub.download_model(args.repo, args.revision, progress)
        except hub.HubError as exc:
            console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
            return 1
    console.print(f"downloaded [bold]{escape(args.repo)}[/bold] to {escape(str(folder))}; "
                  f"train on it with `lora-studio train --model {escape(str(folder))}`")
    return 0
