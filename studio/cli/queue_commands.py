"""``lora-studio queue``: add jobs to the run queue, list, reorder, cancel, retry, pause; ``queue run``
is the runner itself (started in the background by ``add`` and ``resume``; in the foreground here)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from studio.cli.job_building import add_train_flags
from studio.cli.shown import shown
from studio.cli.train_commands import checked_new_job, job_refused
from studio.core import protocol
from studio.core.job_schema import JobError, load_job
from studio.core.jobs import EvalJob
from studio.core.queue import devices, runner
from studio.core.queue.store import ACTIVE, ENDED, Entry, QueueError, QueueStore
from studio.core.throughput import seconds_words


def add_queue_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queue", help="run jobs one after another (or side by side on several GPUs); survives "
                                     "restarts")
    qsub = p.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    q = qsub.add_parser("add", help="queue a train job (the flags of `train`), or an eval job file; the runner "
                                    "starts it when its GPU is free")
    q.add_argument("job_file", nargs="?", type=Path, metavar="JOB", help="a job file (.toml or .json); flags "
                                                                          "override it (same as --job)")
    add_train_flags(q)
    q.add_argument("--label", help="what the queue calls it (default: the adapter name, else model on dataset)")
    q.add_argument("--force", action="store_true", help="queue it even where the memory estimate says it won't fit")
    q.add_argument("--no-start", action="store_true", help="only queue it; no runner is started")
    q.set_defaults(func=cmd_add)
    q = qsub.add_parser("list", help="the queue in order, with state, devices and ETA")
    q.add_argument("--all", action="store_true", help="also every ended entry (default: the last 10)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)
    for name, helptext in (("remove", "take a waiting or ended entry off the queue"),
                           ("cancel", "cancel a waiting entry, or a running one (its worker cancels; nothing saved)"),
                           ("retry", "queue a failed, stopped or cancelled entry again, last in line (not a "
                                     "sweep's pruned trial: it counts only within its sweep)")):
        q = qsub.add_parser(name, help=helptext)
        q.add_argument("id", type=int, help="the entry's number (queue list)")
        q.set_defaults(func=cmd_entry, action=name)
    q = qsub.add_parser("move", help="put a waiting entry at a place in line (1 = next)")
    q.add_argument("id", type=int)
    q.add_argument("place", type=int)
    q.set_defaults(func=cmd_move)
    q = qsub.add_parser("pause", help="start nothing new (running jobs go on)")
    q.add_argument("--on-failure", action=argparse.BooleanOptionalAction, default=None,
                   help="from now on, pause the queue when a job fails (--no-on-failure: go on past failures, "
                        "the default)")
    q.set_defaults(func=cmd_pause, paused=True)
    q = qsub.add_parser("resume", help="start waiting jobs again")
    q.set_defaults(func=cmd_pause, paused=False, on_failure=None)
    q = qsub.add_parser("run", help="be the queue's runner in this terminal until the queue is empty "
                                    "(add and resume start one in the background)")
    q.add_argument("--forever", action="store_true", help="keep waiting for new jobs instead of exiting when idle")
    q.set_defaults(func=cmd_run)


def cmd_add(args: argparse.Namespace, console: Console) -> int:
    if args.job_file is not None:
        if args.job is not None:
            return _error(console, "give the job file once: as JOB or as --job")
        args.job = args.job_file
    try:
        job = _eval_job(args.job) or checked_new_job(args, console)
        if isinstance(job, int):
            return job
        with QueueStore() as store:
            entry = store.add(job, label=args.label or "", source="cli")
            waiting = len(store.entries(("queued",)))
            paused = store.paused
    except JobError as exc:
        return job_refused(exc, console)
    except (FileNotFoundError, QueueError) as exc:
        return _error(console, str(exc))
    need = devices.need_of(entry.job_data())
    console.print(f"queued [bold]#{entry.id}[/bold] {shown(entry.label)} ({waiting} waiting; needs "
                  f"{need.describe()})")
    if paused:
        console.print("[yellow]the queue is paused[/yellow]: lora-studio queue resume starts it")
    elif not args.no_start and runner.start_in_background():
        console.print("[dim]started the queue's runner in the background (lora-studio queue list follows it)[/dim]")
    return 0


def _eval_job(path: Path | None) -> EvalJob | None:
    """An eval job file goes in as it is; a train job gets the train command's checks."""
    job = load_job(path) if path is not None else None
    return job if isinstance(job, EvalJob) else None


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    with QueueStore() as store:
        entries = store.entries()
        paused, reason, on_failure = store.paused, store.pause_reason(), store.stop_on_failure
    if not args.all:
        ended = [e for e in entries if e.state in ENDED]
        entries = [e for e in entries if e.state not in ENDED] + ended[:10]
    pid = runner.runner_pid()
    if args.json:
        print(json.dumps({"paused": paused, "pause_reason": reason, "stop_on_failure": on_failure,
                          "runner_pid": pid, "entries": [_as_json(e) for e in entries]}, indent=2))
        return 0
    table = Table(show_edge=False, pad_edge=False)
    for column in ("#", "state", "job", "devices", "progress", "ETA", "run / note"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(str(entry.id), entry.state, shown(entry.label), entry.devices or "-", _progress(entry),
                      _eta(entry), shown(entry.note or "-"))
    console.print(table if entries else "[dim]the queue is empty (lora-studio queue add JOB)[/dim]")
    state = "paused" + (f": {reason}" if reason else "") if paused else "running" if pid else "no runner"
    console.print(f"[dim]queue {shown(state)}; {'pauses' if on_failure else 'goes on'} when a job fails[/dim]")
    return 0


def cmd_entry(args: argparse.Namespace, console: Console) -> int:
    try:
        with QueueStore() as store:
            if args.action == "remove":
                entry = store.remove(args.id)
                console.print(f"removed #{entry.id} {shown(entry.label)}")
            elif args.action == "cancel":
                console.print(shown(runner.cancel(store, args.id)))
            else:
                entry = store.retry(args.id)
                console.print(f"#{entry.id} {shown(entry.label)} queued again")
                runner.start_in_background()
    except QueueError as exc:
        return _error(console, str(exc))
    return 0


def cmd_move(args: argparse.Namespace, console: Console) -> int:
    try:
        with QueueStore() as store:
            waiting = store.move(args.id, args.place)
    except QueueError as exc:
        return _error(console, str(exc))
    console.print("waiting, in order: " + ", ".join(f"#{e.id} {shown(e.label)}" for e in waiting))
    return 0


def cmd_pause(args: argparse.Namespace, console: Console) -> int:
    with QueueStore() as store:
        if args.on_failure is not None:
            store.set_stop_on_failure(args.on_failure)
        store.set_paused(args.paused, "paused by hand" if args.paused else "")
        on_failure = store.stop_on_failure
    if args.paused:
        console.print("queue paused: nothing new starts; running jobs go on"
                      + ("; it also pauses when a job fails" if on_failure else ""))
    else:
        started = runner.start_in_background()
        console.print("queue resumed" + (" (runner started)" if started else ""))
    return 0


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    with QueueStore() as store:
        try:
            runner.QueueRunner(store, exit_when_idle=not args.forever, say=runner.log_to()).run()
        except runner.RunnerBusy as exc:
            console.print(f"[dim]{shown(exc)}[/dim]")
    return 0


def _progress(entry: Entry) -> str:
    if entry.total_steps:
        return f"{entry.step}/{entry.total_steps}"
    return "-"


def _eta(entry: Entry) -> str:
    """As the Queue page's ETA column: time left, the time an ended job took, or plainly none yet."""
    if entry.state in ACTIVE:
        return seconds_words(entry.eta_s) if entry.eta_s is not None else "no estimate yet"
    if entry.state in ENDED and entry.started_t and entry.ended_t:
        return f"took {seconds_words(entry.ended_t - entry.started_t)}"
    return "no estimate yet" if entry.state == "queued" else "-"


def _as_json(entry: Entry) -> dict:
    return {"id": entry.id, "state": entry.state, "label": entry.label, "kind": entry.kind, "devices": entry.devices,
            "run_dir": entry.run_dir, "step": entry.step, "total_steps": entry.total_steps, "eta_s": entry.eta_s,
            "attempts": entry.attempts, "source": entry.source, "message": entry.message,
            "added": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.added_t))}


def _error(console: Console, text: str) -> int:
    console.print(f"[red bold]error:[/red bold] {shown(text, keep_newlines=True)}")
    return protocol.EXIT_BAD_JOB
