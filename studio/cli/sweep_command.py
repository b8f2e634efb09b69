"""``lora-studio sweep FILE``: run (or resume) a hyperparameter sweep through the queue;
``lora-studio sweep --show NAME`` lists a sweep's trials, the best, and what mattered;
``--write-trials DIR`` / ``--collect DIR`` hand its trials to a batch scheduler and take the
results back (scripts/slurm_sweep_array.sh, docs/sweeps.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from studio.cli.shown import shown
from studio.core import protocol
from studio.core.job_schema import JobError


def add_sweep_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="search hyperparameters (grid, random or Optuna's TPE) with trials run through "
                                     "the queue; run again to resume. docs/sweeps.md shows the file")
    p.add_argument("file", nargs="?", type=Path, help="a sweep file (.toml or .json, kind = \"sweep\")")
    p.add_argument("--show", metavar="NAME", help="list the trials of a sweep (run or running) and its best")
    p.add_argument("--list", action="store_true", help="the sweeps on this machine")
    p.add_argument("--best", metavar="NAME", help="file the best trial's adapter in the library (once)")
    p.add_argument("--write-trials", metavar="DIR", type=Path,
                   help="write FILE's trials as job files in DIR for a SLURM array (scripts/slurm_sweep_array.sh) "
                        "instead of running them here")
    p.add_argument("--collect", metavar="DIR", type=Path,
                   help="tell FILE's study the results of the trials written to DIR whose runs have ended, "
                        "and file the best once all have")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from studio.core.sweeps import study

    if args.list:
        names = study.sweep_names()
        console.print("\n".join(shown(n) for n in names) if names else "[dim]no sweeps yet[/dim]")
        return 0
    if args.show or args.best:
        name = args.show or args.best
        if name not in study.sweep_names():
            return _error(console, f"no sweep named {name!r} (lora-studio sweep --list)")
        if args.best:
            return _file_best(console, name)
        show(console, study.read_study(name))
        return 0
    if args.file is None:
        return _error(console, "give a sweep file (or --show NAME, --list)")
    from studio.core.sweeps.driver import SweepBusy, SweepDriver
    from studio.core.sweeps.objectives import goal
    from studio.core.sweeps.spec import load_sweep, planned_trials

    try:
        spec = load_sweep(args.file)
    except JobError as exc:
        return _error(console, str(exc))
    if args.write_trials or args.collect:
        from studio.cli.sweep_array_command import collect_trials, write_trials

        return write_trials(console, spec, args.write_trials, args.file) if args.write_trials else \
            collect_trials(console, spec, args.collect)
    planned = planned_trials(spec)
    console.print(f"sweep [bold]{shown(spec.name)}[/bold]: {spec.sampler}, "
                  f"{planned or 'open-ended'} trials, {goal(spec.objective, spec.direction)}, "
                  f"pruner {spec.pruner}")
    try:
        SweepDriver(spec, say=lambda text: console.print(shown(text))).run()
    except SweepBusy as exc:
        return _error(console, str(exc))
    show(console, study.read_study(spec.name))
    return 0


def show(console: Console, view) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("trial", "state", "parameters", view.objective_label, "run / note"):
        table.add_column(column, overflow="fold")
    for trial in view.trials:
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        value = f"{trial.value:.4f}" if trial.value is not None else (
            f"(at step {trial.curve[-1][0]}: {trial.curve[-1][1]:.4f})" if trial.curve else "-")
        mark = " ★" if view.best is not None and trial.number == view.best.number else ""
        table.add_row(f"{trial.number}{mark}", trial.state, shown(params), value,
                      shown(trial.note or Path(trial.run_dir).name))
    console.print(table)
    counts = ", ".join(f"{n} {state}" for state, n in view.counts().items())
    console.print(f"{len(view.trials)} of {view.planned or '?'} trials: {counts or 'none yet'}")
    if view.best is not None:
        from studio.core.sweeps.study import this_machine

        where = "" if view.best_machine in ("", this_machine()) else f" of {view.best_machine}"
        console.print(f"best ({view.goal()}): trial {view.best.number}, {view.best.value:.4f}"
                      + (f"; in the library{shown(where)} as {view.best_ref}" if view.best_ref else ""))
    if view.importance:
        console.print("what mattered: " + ", ".join(f"{k} {v:.0%}" for k, v in view.importance.items()))


def _file_best(console: Console, name: str) -> int:
    import optuna

    from studio.core.sweeps.best import best_elsewhere, file_best
    from studio.core.sweeps.study import storage

    study = optuna.load_study(study_name=name, storage=storage(name))
    ref = file_best(name, study)
    console.print(f"best adapter: {ref}" if ref else shown(best_elsewhere(study) or "no trial has finished yet"))
    return 0 if ref else 1


def _error(console: Console, text: str) -> int:
    console.print(f"[red bold]error:[/red bold] {shown(text, keep_newlines=True)}")
    return protocol.EXIT_BAD_JOB
