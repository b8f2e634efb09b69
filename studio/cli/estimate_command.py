"""``lora-studio estimate``: the VRAM estimate of a train job, as a table, before training."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from studio.cli.job_building import build_train_job
from studio.core import gpus, launch_plan, protocol, step_time, vram
from studio.core.job_schema import JobError
from studio.core.models import ModelError, inspect_model, model_source


def add_estimate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu-memory", type=float, metavar="GIB",
                        help="compare with a card of this many GiB (default: this machine's first GPU)")
    parser.add_argument("--json", action="store_true")


def cmd_estimate(args: argparse.Namespace, console: Console) -> int:
    try:
        job = build_train_job(args)
        model = inspect_model(model_source(job.model.path))
        capacity, card = _capacity(args)
        # Several GPUs (--gpus 0,1): the estimate of each, for the strategy the worker will take.
        # CUDA graphs' pool where the job asks for graphs outright (their auto choice needs the data's lengths).
        graphs = step_time.graphs_expected(job, model.config, card, None)
        estimate, options = launch_plan.per_gpu_estimate(job, model.config, model.num_parameters, capacity, graphs)
    except (JobError, ModelError, vram.EstimateError, OSError) as exc:
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
        return protocol.EXIT_BAD_JOB
    suggestions = vram.suggest(job, model.config, capacity, **options) if capacity else []
    fits = capacity is None or estimate.total <= capacity
    partial = vram.partial_checkpointing(job, model.config, capacity, **options) if capacity and fits else None
    if args.json:
        console.print_json(json.dumps({**estimate.as_dict(), "model": model.name, "capacity_bytes": capacity,
                                       "partial_checkpointing": partial and {
                                           "checkpointed_layers": partial.checkpointed, "layers": partial.layers,
                                           "total_bytes": partial.estimate.total},
                                       "fits": fits,
                                       "suggestions": [{"label": s.label, "edits": s.edits, "fits": s.fits,
                                                        "total_bytes": s.estimate.total} for s in suggestions]}))
        return 0
    table = Table(title=f"Peak GPU memory: {escape(model.name)}"
                        + (f", {estimate.gpus} GPUs ({estimate.strategy}), per GPU" if estimate.gpus > 1 else ""))
    table.add_column("part")
    table.add_column("size", justify="right")
    table.add_column("what")
    for part in estimate.parts:
        table.add_row(part.label, vram.format_bytes(part.bytes), escape(part.note))
    table.add_row("[bold]Total[/bold]", f"[bold]{vram.format_bytes(estimate.total)}[/bold]", "")
    console.print(table)
    for note in estimate.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    if capacity is None:
        console.print("No NVIDIA GPU here: pass --gpu-memory GIB to check a card.")
        return 0
    if fits:
        console.print(f"[green]Fits[/green] {card} ({vram.format_bytes(capacity)}), "
                      f"{vram.format_bytes(capacity - estimate.total)} to spare.")
        if partial:
            console.print(escape(partial.sentence()))
        return 0
    console.print(f"[red]Does not fit[/red] {card} ({vram.format_bytes(capacity)}): "
                  f"{vram.format_bytes(estimate.total - capacity)} too much. Try:")
    for s in suggestions:
        mark = "[green]fits[/green]" if s.fits else "[red]still too large[/red]"
        edits = " ".join(f"--set {k}={json.dumps(v)}" for k, v in s.edits.items())
        console.print(f"  {escape(s.label)}: {vram.format_bytes(s.estimate.total)} {mark}\n    [dim]{escape(edits)}[/dim]")
    return 0


def _capacity(args: argparse.Namespace) -> tuple[int | None, str]:
    if args.gpu_memory:
        return int(args.gpu_memory * vram.GIB), f"a {args.gpu_memory:g} GiB card"
    found = gpus.visible_gpus()
    return (found[0].total_bytes, found[0].name) if found else (None, "")
