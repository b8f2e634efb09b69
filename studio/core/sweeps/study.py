"""A sweep's Optuna study: its storage under ``<home>/sweeps/<name>/``, sampler, pruner and search
space, and what the Sweeps page and ``lora-studio sweep`` read back from it.

Optuna's own SQLite storage is the study's truth (trials, parameters, intermediate values,
states), so a sweep resumes after any kill, and a study can move to a shared RDB (MySQL,
PostgreSQL, or one SQLite file: ``LORA_STUDIO_SWEEP_STORAGE``) when trials run on several
machines. Each trial names the machine that runs it (``OWNER_ATTR``): a driver follows only its
own, and only that machine has the trial's run and adapter.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from studio.core import paths
from studio.core.sweeps import objectives
from studio.core.sweeps.spec import SweepSpec

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

STORAGE_ENV = "LORA_STUDIO_SWEEP_STORAGE"  # an RDB URL shared by machines (docs/sweeps.md)
SPEC_NAME = "sweep.json"
OWNER_ATTR = "machine"  # the trial's user attribute naming where it runs (this_machine())
SQLITE_TIMEOUT_S = 60  # wait this long for another driver's write to a shared SQLite file
optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happens


def sweeps_dir() -> Path:
    folder = paths.home() / "sweeps"
    folder.mkdir(parents=True, exist_ok=True, mode=paths.PRIVATE_DIR)
    return folder


def sweep_folder(name: str) -> Path:
    folder = sweeps_dir() / name
    folder.mkdir(parents=True, exist_ok=True, mode=paths.PRIVATE_DIR)
    return folder


def storage_url(name: str) -> str:
    return os.environ.get(STORAGE_ENV) or f"sqlite:///{sweep_folder(name) / 'study.sqlite'}"


def storage(name: str) -> optuna.storages.RDBStorage:
    """The study's storage; a SQLite file waits for another process's write instead of failing
    with "database is locked" (two drivers, or a driver and the Sweeps page, at once)."""
    url = storage_url(name)
    kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {}
    # Opening a new file makes its tables and stamps its schema version: two drivers sharing one
    # file, started together, both stamped it and one died ("UNIQUE constraint failed: alembic_version").
    with _sqlite_lock(url, ".open-lock"):
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def this_machine() -> str:
    """Who runs a trial: the host and its LoRA Studio home (two homes on one host are two machines)."""
    return f"{socket.gethostname()}:{paths.home()}"


@contextlib.contextmanager
def asking(name: str) -> Iterator[None]:
    """Held while a driver counts the study's trials and asks for one, so two drivers sharing one
    SQLite file never both take the last trial of the budget. Server databases have no such lock:
    there the driver that asked one trial too many ends it unrun (driver.SweepDriver._start_trial)."""
    with _sqlite_lock(storage_url(name), ".ask-lock"):
        yield


@contextlib.contextmanager
def _sqlite_lock(url: str, suffix: str) -> Iterator[None]:
    """An exclusive lock on a file beside a SQLite study (none for a server database, or where that
    folder is read-only: a study there is only read)."""
    try:
        handle = open(url.removeprefix("sqlite:///") + suffix, "a+") \
            if fcntl is not None and url.startswith("sqlite:///") else None
    except OSError:
        handle = None
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def distributions(spec: SweepSpec) -> dict[str, optuna.distributions.BaseDistribution]:
    found: dict[str, optuna.distributions.BaseDistribution] = {}
    for key, value in spec.space.items():
        if isinstance(value, list):
            found[key] = optuna.distributions.CategoricalDistribution(value)
        elif all(isinstance(value[k], int) for k in ("low", "high")) and not value.get("log") \
                and isinstance(value.get("step", 1), int):
            found[key] = optuna.distributions.IntDistribution(value["low"], value["high"], step=value.get("step", 1))
        else:
            found[key] = optuna.distributions.FloatDistribution(float(value["low"]), float(value["high"]),
                                                                log=bool(value.get("log")), step=value.get("step"))
    return found


def sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({k: list(v) for k, v in spec.space.items()}, seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    return optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=min(5, max(1, (spec.trials or 10) // 3)))


def pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if spec.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def why_pruned(spec: SweepSpec, study: optuna.Study, curve: dict[int, float], step: int) -> str:
    """The pruner's verdict in words, for the trial's queue entry and its note: "pruned by the sweep at
    step 4: eval_loss 1.52 above the median of earlier trials at that step, 1.31". It says what the
    pruner compared (pruner() above): the median pruner, the trial's best point so far against the
    median of the complete trials' points at this step; ASHA, the point against the rest of its rung.
    ``curve``: the trial's reported (step, objective) points, this step's included."""
    head = f"pruned by the sweep at step {step}"
    value = curve.get(step)
    if value is None:
        return head
    name = spec.objective
    if math.isnan(value):
        return f"{head}: {name} is not a number (the run diverged)"
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    if spec.pruner == "median":
        best = (max if maximize else min)(v for v in curve.values() if not math.isnan(v))
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        earlier = [t.intermediate_values[step] for t in complete if step in t.intermediate_values]
        earlier = [v for v in earlier if not math.isnan(v)]
        if earlier:
            so_far = " (its best so far)" if best != value else ""
            return (f"{head}: {name} {best:.4g}{so_far} {'below' if maximize else 'above'} the median of earlier "
                    f"trials at that step, {statistics.median(earlier):.4g}")
    if spec.pruner == "asha":
        factor = getattr(study.pruner, "_reduction_factor", 4)
        return f"{head}: {name} {value:.4g} not among the best 1/{factor} of the trials that got this far"
    return f"{head} ({name} {value:.4g})"


def open_study(spec: SweepSpec) -> optuna.Study:
    """The sweep's study, made or resumed (the sweep file is kept beside it)."""
    folder = sweep_folder(spec.name)
    spec_file = folder / SPEC_NAME
    if not spec_file.exists():
        from studio.core import atomic

        atomic.write_text(spec_file, json.dumps(spec.__dict__, indent=2, default=str) + "\n")
    return optuna.create_study(study_name=spec.name, storage=storage(spec.name), load_if_exists=True,
                               direction="maximize" if spec.direction == "maximize" else "minimize",
                               sampler=sampler(spec), pruner=pruner(spec))


def may_start(spec: SweepSpec, study: optuna.Study) -> bool:
    """Whether the budget allows another trial: the planned count (every machine's trials) and time."""
    from studio.core.sweeps.spec import planned_trials

    planned = planned_trials(spec)
    if planned and len(study.get_trials(deepcopy=False)) >= planned:
        return False
    spent = time.time() - float(study.user_attrs.get("started_t", time.time()))
    return not (spec.timeout_s and spent > spec.timeout_s)


@dataclass
class TrialRow:
    number: int
    state: str  # running | complete | pruned | failed
    params: dict[str, Any]
    value: float | None
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, objective) reported
    run_dir: str = ""
    note: str = ""
    eval_run_dir: str = ""  # an eval: objective's eval run, which scored it
    machine: str = ""  # where it runs (its run folders are there)


@dataclass
class StudyView:
    name: str
    objective: str  # as the sweep file names it: eval_loss, eval:rouge_l
    planned: int
    trials: list[TrialRow]
    best: TrialRow | None
    importance: dict[str, float]
    best_ref: str = ""  # the library version the best adapter was filed as
    direction: str = "minimize"
    objective_label: str = ""  # the objective in words: "eval_loss", "ROUGE-L (eval job)"
    best_machine: str = ""  # where best_ref was filed

    def goal(self) -> str:
        return objectives.goal(self.objective, self.direction)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trial in self.trials:
            out[trial.state] = out.get(trial.state, 0) + 1
        return out


_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def read_study(name: str) -> StudyView:
    """The study as the Sweeps page and ``lora-studio sweep --show`` list it (read only)."""
    spec = json.loads((sweep_folder(name) / SPEC_NAME).read_text(encoding="utf-8"))
    study = optuna.load_study(study_name=name, storage=storage(name))
    # A pruned trial's value is Optuna's copy of its last reported point: not a result, so left out here.
    rows = [TrialRow(t.number, _STATES.get(t.state.name, t.state.name.lower()), dict(t.params),
                     t.value if t.state.name == "COMPLETE" else None,
                     sorted(t.intermediate_values.items()), str(t.user_attrs.get("run_dir", "")),
                     str(t.user_attrs.get("note", "")), str(t.user_attrs.get("eval_run_dir", "")),
                     str(t.user_attrs.get(OWNER_ATTR, ""))) for t in study.get_trials(deepcopy=False)]
    direction = "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"
    complete = [r for r in rows if r.state == "complete" and r.value is not None]
    pick = max if direction == "maximize" else min
    best = pick(complete, key=lambda r: float(r.value or 0.0)) if complete else None
    from studio.core.sweeps.spec import grid_size

    planned = int(spec.get("trials") or 0) or (grid_size(_spec_from(spec)) if spec.get("sampler") == "grid" else 0)
    objective = str(spec.get("objective", "eval_loss"))
    return StudyView(name, objective, planned, rows, best, importance(study),
                     str(study.user_attrs.get("best_ref", "")), direction, objectives.label(objective),
                     str(study.user_attrs.get("best_machine", "")))


def importance(study: optuna.Study) -> dict[str, float]:
    """Each parameter's share of the objective's variation (PED-ANOVA: no scikit-learn needed);
    empty until enough trials are complete to tell."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 3 or len({k for t in complete for k in t.params}) < 1:
        return {}
    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def sweep_names() -> list[str]:
    root = sweeps_dir()
    return sorted(p.name for p in root.iterdir() if (p / SPEC_NAME).exists())


def _spec_from(data: dict[str, Any]) -> SweepSpec:
    from studio.core.sweeps.spec import parse_sweep

    return parse_sweep({k: v for k, v in data.items() if k in SweepSpec.__dataclass_fields__})
