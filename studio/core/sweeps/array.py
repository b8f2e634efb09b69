"""A sweep's trials as job files for a batch scheduler (a SLURM array), and their results back.

``write_trials`` asks the study for every trial its budget allows (each grid point; for random and
TPE, ``trials`` of them, all chosen before any result is in, so TPE searches like random here) and
writes, per trial N, ``trial-N.json`` (its train job) and, for an ``eval:`` objective,
``trial-N.eval.json`` (the eval job of its adapter). scripts/slurm_sweep_array.sh runs them as array
task N with run folders ``runs/trial-N`` and ``runs/trial-N-eval`` inside the same folder, which is
where that eval job finds the adapter. ``collect`` then tells the study each ended trial's objective
from those run folders. Array trials are marked (ARRAY_ATTR), so a driver never queues them too;
nothing prunes them (the pruner needs a driver reading the curve as it comes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from studio.core import atomic, runs
from studio.core.job_schema import dumps
from studio.core.sweeps import objectives
from studio.core.sweeps.best import RUN_ATTR, tell
from studio.core.sweeps.driver import ARRAY_ATTR, EVAL_RUN_ATTR, NOTE_ATTR
from studio.core.sweeps.spec import SweepSpec, eval_trial_job, trial_job
from studio.core.sweeps.study import (
    OWNER_ATTR,
    asking,
    distributions,
    may_start,
    open_study,
    this_machine,
)


def train_file(folder: Path, number: int) -> Path:
    return folder / f"trial-{number}.json"


def eval_file(folder: Path, number: int) -> Path:
    return folder / f"trial-{number}.eval.json"


def train_run(folder: Path, number: int) -> Path:
    return folder / "runs" / f"trial-{number}"


def eval_run(folder: Path, number: int) -> Path:
    return folder / "runs" / f"trial-{number}-eval"


def write_trials(spec: SweepSpec, folder: Path) -> list[int]:
    """Ask for the budget's trials and write their job files; the trial numbers written (the array's
    task ids). Run again, it writes the same trials' files and asks for none twice."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    study = open_study(spec)
    if "started_t" not in study.user_attrs:
        study.set_user_attr("started_t", time.time())
    with asking(spec.name):
        while may_start(spec, study):
            trial = study.ask(distributions(spec))
            trial.set_user_attr(OWNER_ATTR, this_machine())
            trial.set_user_attr(ARRAY_ATTR, str(folder))
    numbers = []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.user_attrs.get(ARRAY_ATTR) == str(folder):
            _write(spec, folder, frozen.number, dict(frozen.params))
            numbers.append(frozen.number)
    return numbers


def _write(spec: SweepSpec, folder: Path, number: int, params: dict) -> None:
    job = trial_job(spec, params, number)
    atomic.write_text(train_file(folder, number), dumps(job))
    if objectives.eval_metric(spec.objective):
        scoring = eval_trial_job(spec, job, str(train_run(folder, number) / runs.ADAPTER_NAME))
        atomic.write_text(eval_file(folder, number), dumps(scoring))


@dataclass
class Collected:
    told: dict[int, float] = field(default_factory=dict)  # trial -> its objective
    failed: dict[int, str] = field(default_factory=dict)  # trial -> why
    waiting: list[int] = field(default_factory=list)  # not ended yet (or not started): collect again later


def collect(spec: SweepSpec, folder: Path) -> Collected:
    """Tell the study each of the folder's trials whose runs have ended; each is told once (a told
    trial is no longer running). This machine, which reads the runs, becomes the trials' machine."""
    folder = folder.resolve()
    study = open_study(spec)
    metric = objectives.eval_metric(spec.objective)
    out = Collected()
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.user_attrs.get(ARRAY_ATTR) != str(folder):
            continue
        number, trained = frozen.number, train_run(folder, frozen.number)
        scored = eval_run(folder, number) if metric else trained
        trial = optuna.trial.Trial(study, frozen._trial_id)
        if not _ended(trained) or (metric and _ended(trained) == "done" and not _ended(scored)):
            out.waiting.append(number)
            continue
        trial.set_user_attr(OWNER_ATTR, this_machine())
        trial.set_user_attr(RUN_ATTR, str(trained))
        if metric:
            trial.set_user_attr(EVAL_RUN_ATTR, str(scored))
        value = None
        if _ended(trained) == "done":
            value = objectives.eval_value(scored, metric) if metric else \
                objectives.train_value(trained, spec.objective)
        if value is None:
            why = runs.summarize(scored if _ended(trained) == "done" else trained).message or \
                f"no {metric or spec.objective} in its run"
            trial.set_user_attr(NOTE_ATTR, why)
            tell(study, number, state=TrialState.FAIL)
            out.failed[number] = why
        else:
            tell(study, number, value)
            out.told[number] = value
    return out


def _ended(run_dir: Path) -> str:
    """"done" or "error" once the run's worker has said how it ended, else "" (running, not started,
    or a worker killed before it could: running it again resumes it)."""
    for kind in ("done", "error"):
        if runs.last_event(run_dir, kind) is not None:
            return kind
    return ""


def array_ranges(numbers: list[int]) -> str:
    """Task ids as sbatch --array takes them: 0-5,8."""
    parts: list[str] = []
    for n in sorted(numbers):
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ",".join(parts)
