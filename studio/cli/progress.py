"""Render a worker's events in the terminal: a progress bar, phases, evals, samples."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from studio.core import protocol


class EventPrinter:
    def __init__(self, console: Console, quiet: bool = False):
        self.console = console
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=quiet,
        )
        self.task = None

    def __enter__(self) -> EventPrinter:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def show(self, event: protocol.Event) -> None:
        out = self.progress.console
        if self.quiet and not isinstance(event, protocol.Error | protocol.Warning):
            return  # quiet: only what went wrong
        if isinstance(event, protocol.Hello):
            versions = ", ".join(f"{k} {v}" for k, v in event.versions.items() if v)
            out.print(f"[dim]worker {event.pid}: {versions}[/dim]")
        elif isinstance(event, protocol.Phase):
            if event.name == "training" and event.total:
                if self.task is None:
                    self.task = self.progress.add_task("training", total=event.total,
                                                       completed=event.done or 0, info="")
            elif event.name == "paused":
                out.print("[yellow]paused[/yellow] (send resume to continue)")
            if event.detail or event.name != "training":
                count = f" {event.done}/{event.total}" if event.total and event.name != "training" else ""
                out.print(f"[cyan]{event.name}[/cyan]{count} {escape(event.detail or '')}".rstrip())
        elif isinstance(event, protocol.Step):
            if self.task is None:
                self.task = self.progress.add_task("training", total=event.total_steps, info="")
            rate = f" {event.tokens_per_s:,.0f} tok/s" if event.tokens_per_s else ""
            info = f"loss {event.loss:.4f} lr {event.lr:.2e}{rate}"
            self.progress.update(self.task, completed=event.step, total=event.total_steps, info=info)
            # Without a terminal (CI logs, pipes) the bar does not redraw: print a line
            # about every 5% of the run instead.
            every = max(1, event.total_steps // 20)
            if not out.is_terminal and (event.step % every == 0 or event.step == 1):
                eta = f", eta {event.eta_s:.0f}s" if event.eta_s is not None else ""
                out.print(f"step {event.step}/{event.total_steps}: {info}{eta}")
        elif isinstance(event, protocol.Eval):
            out.print(f"[green]eval[/green] step {event.step}: loss {_number(event.eval_loss, '.4f')}, "
                      f"perplexity {_number(event.perplexity, '.2f')}")
        elif isinstance(event, protocol.Sample):
            # Prompts, generated text and adapter paths are data, not markup ("[/INST]").
            who = escape(f" [{event.adapter}]") if event.adapter else ""
            out.print(f"[magenta]sample{who}[/magenta] {escape(repr(event.prompt))} → "
                      f"{escape(repr(event.text))}")
        elif isinstance(event, protocol.Checkpoint):
            out.print(f"[dim]checkpoint at step {event.step}: {escape(event.path)}[/dim]")
        elif isinstance(event, protocol.Warning):
            out.print(f"[yellow]warning:[/yellow] {escape(event.message)}")
        elif isinstance(event, protocol.Error):
            out.print(f"[red bold]error ({event.kind}):[/red bold] {escape(event.message)}")
            if event.hint:
                out.print(f"[red]hint:[/red] {escape(event.hint)}")


def _number(value: float | None, spec: str) -> str:
    """A metric that JSON could not carry (NaN, inf arrive as null) reads as n/a."""
    return "n/a" if value is None else format(value, spec)
