"""``lora-studio estimate``: the VRAM estimate of a train job, as a table, before training."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from studio.cli.job_building import build_train_job
from studio.core import gpus, launch_plan, protocol, step_time, vram, vram_advice, vram_band
from studio.core.articles import a_or_an
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
    advice = vram_advice.advise(job, model.config, capacity, **options) if capacity else None
    fits = capacity is None or vram.fits(estimate.total, job, capacity)
    partial = vram.partial_checkpointing(job, model.config, capacity, **options) if capacity and fits else None
    if args.json:
        console.print_json(json.dumps(_as_json(estimate, model, capacity, fits, partial, advice)))
        return 0
    runs = partial.estimate if partial else estimate  # the one figure: what the run will use
    table = Table(title=f"Peak GPU memory: {escape(model.name)}"
                        + (f", {runs.gpus} GPUs ({runs.strategy}), per GPU" if runs.gpus > 1 else ""))
    table.add_column("part")
    table.add_column("size", justify="right")
    table.add_column("what")
    for part in runs.parts:
        table.add_row(part.label, vram.format_bytes(part.bytes), escape(part.note))
    table.add_row("[bold]Total[/bold]", f"[bold]{vram.format_bytes(runs.total)}[/bold]",
                  escape(vram_band.accuracy(model.config)))
    console.print(table)
    for note in runs.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    if capacity is None or advice is None:
        console.print("No NVIDIA GPU here: pass --gpu-memory GIB to check a card.")
        return 0
    if partial:
        console.print(escape(partial.sentence()))
    if fits:
        console.print(f"[green]Fits[/green] {escape(a_or_an(card))} ({vram.format_bytes(capacity)}), "
                      f"{vram.format_bytes(capacity - runs.total)} to spare.")
        return 0
    try_ = " Try:" if advice.suggestions else ""
    if estimate.total <= capacity:
        console.print(f"[yellow]May not fit[/yellow] {escape(a_or_an(card))}: about {vram.format_bytes(estimate.total)} "
                      f"of {vram.format_bytes(capacity)}, past the {vram.format_bytes(advice.budget)} it is safe to "
                      f"plan for (the estimate's error, and other programs' memory).{try_}")
    else:
        console.print(f"[red]Does not fit[/red] {escape(a_or_an(card))} ({vram.format_bytes(capacity)}): "
                      f"{vram.format_bytes(estimate.total - capacity)} too much.{try_}")
    for s in advice.suggestions:
        console.print(f"  {escape(s.label)}: {vram.format_bytes(s.estimate.total)} [green]fits[/green]\n"
                      f"    [dim]{escape(_flags(s.edits))}[/dim]")
    said = advice.lines(f"one {card}", cli=True)
    for i, line in enumerate(said):
        console.print(escape(line))
        if i == 0 and advice.least is not None and advice.least.edits:
            console.print(f"    [dim]{escape(_flags(advice.least.edits))}[/dim]")
    return 0


def _flags(edits: dict) -> str:
    return " ".join(f"--set {k}={json.dumps(v)}" for k, v in edits.items())


def _as_json(estimate: vram.Estimate, model, capacity: int | None, fits: bool,
             partial: vram.PartialCheckpointing | None, advice: vram_advice.Advice | None) -> dict:
    band = vram_band.band_for(model.config)
    least = advice.least if advice else None
    return {**estimate.as_dict(), "model": model.name, "capacity_bytes": capacity,
            "budget_bytes": advice.budget if advice else None,
            "band": band and {"low": band.low, "high": band.high, "family": band.family},
            "accuracy": vram_band.accuracy(model.config),
            "partial_checkpointing": partial and {
                "checkpointed_layers": partial.checkpointed, "layers": partial.layers,
                "total_bytes": partial.estimate.total},
            "fits": fits,
            "suggestions": [{"label": s.label, "edits": s.edits, "fits": s.fits, "total_bytes": s.estimate.total}
                            for s in (advice.suggestions if advice else ())],
            "nothing_fits": least and {
                "least_bytes": least.estimate.total, "edits": least.edits,
                "larger_card_gib": advice.larger and advice.larger.gib,
                "as_is_card_gib": advice.as_is and advice.as_is.gib,
                "fsdp_gpus": advice.gpus or None}}


def _capacity(args: argparse.Namespace) -> tuple[int | None, str]:
    """The card's bytes and its name without an article ("24 GiB card", "NVIDIA H200")."""
    if args.gpu_memory:
        return int(args.gpu_memory * vram.GIB), f"{args.gpu_memory:g} GiB card"
    found = gpus.visible_gpus()
    return (found[0].total_bytes, found[0].name) if found else (None, "")
