"""Run one job through a worker, showing progress; Ctrl-C stops, a second one cancels."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from rich.console import Console

from studio.cli.progress import EventPrinter
from studio.cli.worker_process import Outcome, WorkerProcess
from studio.core import protocol, runs
from studio.core import settings as user_settings
from studio.core.hang_watch import HangWatch
from studio.core.jobs import Job


def run_job(job: Job, run_dir: Path, console: Console, quiet: bool = False,
            show_log: bool = False, hang_timeout_s: float | None = None) -> tuple[Outcome, list[protocol.Event]]:
    """``hang_timeout_s``: None takes the user's setting (the GUI's Settings page sets it too)."""
    worker = WorkerProcess(job, run_dir, show_log=show_log)
    interrupts = 0
    watch = HangWatch(user_settings.load().hang_timeout_s if hang_timeout_s is None else hang_timeout_s)
    finished = threading.Event()
    threading.Thread(target=_watch_for_hang, args=(watch, finished, console, run_dir), name="hang-watch",
                     daemon=True).start()

    def on_interrupt(_signum, _frame) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            console.print("\n[yellow]stopping after this step and saving (Ctrl-C again to cancel)…[/yellow]")
            worker.send("stop")
        else:
            console.print("\n[red]cancelling: nothing will be saved[/red]")
            worker.send("cancel")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    seen: list[protocol.Event] = []
    try:
        with EventPrinter(console, quiet=quiet) as printer:
            for event in worker.events():
                watch.seen(event)
                seen.append(event)
                if not isinstance(event, protocol.System):
                    printer.show(event)
        outcome = worker.wait()
    except BaseException:
        # The CLI itself failed: the worker lives in its own session, so ask it to
        # save and stop rather than leave it training with no one watching.
        worker.send("stop")
        raise
    finally:
        finished.set()
        signal.signal(signal.SIGINT, previous)
    if outcome.died:
        runs.record_death(run_dir, outcome.signal_name or f"exit status {outcome.exit_code}")
        how = f" ({outcome.signal_name})" if outcome.signal_name else f" (exit {outcome.exit_code})"
        console.print(f"[red bold]failed:[/red bold] the worker ended without finishing{how}; "
                      f"see {run_dir / runs.LOG_NAME}. Nothing half-written was kept.")
        if outcome.exit_code == 0:
            outcome.exit_code = protocol.EXIT_INTERNAL
    return outcome, seen


def _watch_for_hang(watch: HangWatch, finished: threading.Event, console: Console, run_dir: Path) -> None:
    """Say once per stall that the worker may be hung, and how to end it."""
    while not finished.wait(1.0):
        idle = watch.stalled_for()
        if idle is not None and not watch.reported:
            watch.reported = True
            console.print(f"[yellow bold]{watch.message(idle)}.[/yellow bold] Wait, or end it: Ctrl-C twice, or "
                          f"`lora-studio stop {run_dir.name} --command cancel` (the last checkpoint is kept).")
