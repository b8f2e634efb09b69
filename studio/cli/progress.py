"""Render a worker's events in the terminal: a progress bar, phases, evals, samples.

Every text in an event may come from a dataset, a model or a file name (a sample's prompt, a
warning quoting a row): it is shown through :func:`studio.cli.shown.shown`, so neither rich
markup ("[/INST]") nor terminal escape sequences in it act (issue 22)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from studio.cli.shown import shown
from studio.core import protocol
from studio.core.outputs import TrainOutputs
from studio.core.printable import printable


class WorkerEtaColumn(ProgressColumn):
    """The worker's own ETA (core.throughput: steady steps only), counted down between
    its step events. Rich's TimeRemainingColumn would average the bar's progress since
    it began, compile warm-up and pauses included."""

    def render(self, task: Task) -> Text:
        eta, at = task.fields.get("eta_s"), task.fields.get("eta_at")
        if eta is None or at is None:
            return Text("-:--:--", style="progress.remaining")
        left = max(0.0, eta - (time.monotonic() - at))
        return Text(str(timedelta(seconds=round(left))), style="progress.remaining")


class EventPrinter:
    def __init__(self, console: Console, quiet: bool = False):
        self.console = console
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} {task.fields[unit]}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            WorkerEtaColumn(),
            console=console,
            transient=False,
            disable=quiet,
        )
        self.task = None
        self.phase_tasks: dict[str, Any] = {}  # counted phases in progress (their bar task, or -1)
        self.last_loss: float | None = None

    def __enter__(self) -> EventPrinter:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def _counted_phase(self, event: protocol.Phase) -> None:
        """A phase that counts (an evaluation's batches, a conversion's tensors) is one line that
        fills, not a line per report: an eval used to print ~20 lines. Without a terminal the
        line is printed when the phase starts and when it completes."""
        total, done = int(event.total or 0), int(event.done or 0)
        text = f"[cyan]{shown(event.name)}[/cyan] {shown(event.detail or '')}".rstrip()
        if self.progress.console.is_terminal and not self.progress.disable:
            task = self.phase_tasks.get(event.name)
            if task is None:
                task = self.phase_tasks[event.name] = self.progress.add_task(
                    shown(event.name), total=total, info=shown(event.detail or ""), eta_s=None, unit="")
            self.progress.update(task, completed=done, total=total, info=shown(event.detail or ""))
            if done >= total:
                self.phase_tasks.pop(event.name)
            return
        started = event.name in self.phase_tasks
        if not started:
            self.phase_tasks[event.name] = -1
            self.progress.console.print(f"{text} {done}/{total}")
        if done >= total:
            self.phase_tasks.pop(event.name, None)
            if started:
                self.progress.console.print(f"{text} {done}/{total}")

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
                    self.task = self.progress.add_task("training", total=event.total, unit="steps",
                                                       completed=event.done or 0, info="", eta_s=None)
            elif event.name == "paused":
                if self.task is not None:  # no countdown while held; the next step brings a fresh ETA
                    self.progress.update(self.task, eta_s=None)
                out.print("[yellow]paused[/yellow] (send resume to continue)")
            counted = bool(event.total) and event.done is not None and event.name != "training"
            if counted:
                self._counted_phase(event)
            elif event.detail or event.name != "training":
                out.print(f"[cyan]{shown(event.name)}[/cyan] {shown(event.detail or '')}".rstrip())
        elif isinstance(event, protocol.Step):
            if self.task is None:
                self.task = self.progress.add_task("training", total=event.total_steps, info="", unit="steps")
            rate = f" {event.tokens_per_s:,.0f} tok/s" if event.tokens_per_s else ""
            info = f"loss {event.loss:.4f}{preference_words(event.preference)} lr {event.lr:.2e}{rate}"
            self.last_loss = event.loss
            self.progress.update(self.task, completed=event.step, total=event.total_steps, info=info,
                                 eta_s=event.eta_s, eta_at=time.monotonic())
            # Without a terminal (CI logs, pipes) the bar does not redraw: print a line
            # about every 5% of the run instead.
            every = max(1, event.total_steps // 20)
            if not out.is_terminal and (event.step % every == 0 or event.step == 1):
                eta = f", eta {event.eta_s:.0f}s" if event.eta_s is not None else ""
                out.print(f"step {event.step}/{event.total_steps}: {info}{eta}")
        elif isinstance(event, protocol.Done) and self.task is not None:  # a bar: the job trained
            # The bar's last line stays on screen: it shows the run's real average, not
            # the last step's rate.
            average = TrainOutputs.from_dict(event.outputs, "the run").metrics.tokens_per_s
            if average is not None:
                loss = f"loss {self.last_loss:.4f} " if self.last_loss is not None else ""
                self.progress.update(self.task, info=f"{loss}average {average:,.0f} tok/s", eta_s=0.0,
                                     eta_at=time.monotonic())
        elif isinstance(event, protocol.Eval):
            judged = (preference_words(event.preference) if event.preference is not None else
                      f", perplexity {_number(event.perplexity, '.2f')}")
            out.print(f"[green]eval[/green] step {event.step}: loss {_number(event.eval_loss, '.4f')}{judged}")
        elif isinstance(event, protocol.Sample):
            # Prompts, generated text and adapter paths are data, not markup ("[/INST]").
            who = f" {shown(f'[{event.adapter}]')}" if event.adapter else ""
            out.print(f"[magenta]sample{who}[/magenta] {_quoted(event.prompt)} → {_quoted(event.text)}")
        elif isinstance(event, protocol.Completions):
            out.print(f"[magenta]{shown(completion_line(event))}[/magenta]")
        elif isinstance(event, protocol.Checkpoint):
            out.print(f"[dim]checkpoint at step {event.step}: {shown(event.path)}[/dim]")
        elif isinstance(event, protocol.Warning):
            out.print(f"[yellow]warning:[/yellow] {shown(event.message, keep_newlines=True)}")
        elif isinstance(event, protocol.Error):
            out.print(f"[red bold]error ({shown(event.kind)}):[/red bold] {shown(event.message, keep_newlines=True)}")
            if event.hint:
                out.print(f"[red]hint:[/red] {shown(event.hint, keep_newlines=True)}")


def preference_words(numbers: dict[str, float] | None) -> str:
    """A stage's numbers that say it learns ("" for sft, or a stage that logs none): a preference stage's
    reward margin of the chosen reply over the rejected one and the share of pairs ranked right; GRPO's
    mean reward (± its spread), the answers' mean length and the KL from the start where measured."""
    numbers = numbers or {}
    margin, accuracy = numbers.get("rewards/margins"), numbers.get("rewards/accuracies")
    reward, spread = numbers.get("reward"), numbers.get("reward_std")
    length, kl = numbers.get("completions/mean_length"), numbers.get("kl")
    return (("" if margin is None else f" margin {margin:.2f}") +
            ("" if accuracy is None else f" ranked right {accuracy:.0%}") +
            ("" if reward is None else f" reward {reward:.3f}") + ("" if spread is None else f" ±{spread:.2f}") +
            ("" if length is None else f" answers {length:.0f} tok") + ("" if kl is None else f" kl {kl:.4f}"))


def completion_line(event: protocol.Completions, width: int = 100) -> str:
    """The first sampled answer of a GRPO step with its scores, as one plain line (pass it through
    ``shown`` for rich). Escape sequences go before the answer is quoted: repr would keep them as text."""
    if not event.samples:
        return f"answers at step {event.step}: none"
    sample = event.samples[0]
    scores = ", ".join(f"{label} {'failed' if value is None else format(value, '.2f')}"
                       for label, value in sample.get("rewards", {}).items())
    answer = " ".join(printable(sample.get("completion", ""), keep_newlines=True).split())
    answer = answer if len(answer) <= width else answer[: width - 1] + "…"
    return f"answers at step {event.step}: {answer!r} → reward {sample.get('total', 0.0):.2f} ({scores})"


def _quoted(text: str) -> str:
    """A prompt or generated text quoted on one line, its line breaks as \\n; escape sequences
    and control characters dropped first (repr would keep them as visible text)."""
    return shown(repr(printable(text, keep_newlines=True)))


def _number(value: float | None, spec: str) -> str:
    """A metric that JSON could not carry (NaN, inf arrive as null) reads as n/a."""
    return "n/a" if value is None else format(value, spec)
