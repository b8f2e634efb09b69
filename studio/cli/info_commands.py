"""Commands that train nothing: ``models``, ``runs``, ``doctor``, ``download``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from studio.cli.shown import shown
from studio.core import paths, runs
from studio.core import settings as user_settings
from studio.core.models import discover_models_with_problems


def cmd_models(args: argparse.Namespace, console: Console) -> int:
    for folder in args.add:
        user_settings.add_model_folder(folder)
    for folder in args.forget:
        user_settings.remove_model_folder(str(paths.user_path(folder).absolute()))
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
        table.add_row(shown(m.name), m.source, shown(m.architecture), params, str(m.num_layers or "?"),
                      str(m.hidden_size or "?"), shown(m.quantization or m.dtype or "?"), shown(m.id))
    console.print(table)
    for path, reason in problems:
        console.print(f"[yellow]skipped[/yellow] {shown(f'{path}: {reason}')}")
    return 0


def cmd_runs(args: argparse.Namespace, console: Console) -> int:
    found = runs.list_runs()
    if args.json:
        # The done outputs as the worker wrote them; ``trained`` is the same, read as a record.
        console.print_json(json.dumps([{**{k: v for k, v in r.__dict__.items() if k != "trained"}, "path": str(r.path)}
                                       for r in found], default=str))
        return 0
    table = Table(title=f"Runs in {paths.runs_dir()}")
    for column in ("run", "status", "method", "model", "steps", "final loss", "eval loss", "note"):
        # The run id is what `--resume`, `runs show` and `library add` take: never cut to "2026120…"
        table.add_column(column, no_wrap=column == "run", min_width=len(found[0].run_id) if column == "run" and found
                         else None)
    colours = {"done": "green", "stopped": "cyan", "running": "yellow", "failed": "red", "cancelled": "magenta"}
    for r in found:
        table.add_row(shown(r.run_id), f"[{colours.get(r.status, 'white')}]{r.status}[/]", shown(r.method),
                      shown(Path(r.model).name if r.model not in ("", "bundled") else (r.model or "?")),
                      f"{r.step}/{r.total_steps}", _fmt(r.final_loss), _fmt(r.eval_loss), shown(r.message[:60]))
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
