"""``lora-studio sweep FILE --write-trials DIR`` and ``--collect DIR``: a sweep's trials handed to a
batch scheduler (scripts/slurm_sweep_array.sh runs one per SLURM array task) and their results
told back to the study, which then files the best like a driver does."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from studio.cli.shown import shown
from studio.core.sweeps.spec import SweepSpec

SCRIPT = "scripts/slurm_sweep_array.sh"


def write_trials(console: Console, spec: SweepSpec, folder: Path, sweep_file: Path) -> int:
    from studio.core.sweeps.array import array_ranges
    from studio.core.sweeps.array import write_trials as write

    numbers = write(spec, folder)
    if not numbers:
        console.print(f"no trial is left to write: the sweep {shown(spec.name)} has used its budget")
        return 1
    console.print(f"{len(numbers)} trial(s) of {shown(spec.name)} written to {shown(str(folder))}"
                  + ("" if spec.pruner == "none" else " (an array runs every trial to its end: no pruning)"))
    console.print(f"run them:     sbatch --array={array_ranges(numbers)} {SCRIPT} {shown(str(folder))}")
    console.print(f"then collect: lora-studio sweep {shown(str(sweep_file))} --collect {shown(str(folder))}")
    return 0


def collect_trials(console: Console, spec: SweepSpec, folder: Path) -> int:
    import optuna

    from studio.cli.sweep_command import show
    from studio.core.sweeps.array import collect
    from studio.core.sweeps.best import best_elsewhere, file_best
    from studio.core.sweeps.study import read_study, storage

    got = collect(spec, folder)
    for number, value in sorted(got.told.items()):
        console.print(f"trial {number}: {shown(spec.objective)} {value:.4g}")
    for number, why in sorted(got.failed.items()):
        console.print(f"trial {number}: failed ({shown(why)})")
    study = optuna.load_study(study_name=spec.name, storage=storage(spec.name))
    if got.waiting:
        console.print(f"not ended yet: trial(s) {', '.join(map(str, got.waiting))}; collect again once they have")
    elif not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        ref = file_best(spec.name, study)
        text = f"best trial's adapter filed in the library as {ref}" if ref else best_elsewhere(study)
        if text:
            console.print(shown(text))
    show(console, read_study(spec.name))
    return 0
