"""A sweep's Optuna study: its storage under ``<home>/sweeps/<name>/``, sampler, pruner and search
space, and what the Sweeps page and ``lora-studio sweep`` read back from it.

Optuna's own SQLite storage is the study's truth (trials, parameters, intermediate values,
states), so a sweep resumes after any kill, and a study can move to a shared RDB (MySQL,
PostgreSQL: ``LORA_STUDIO_SWEEP_STORAGE``) when trials run on several machines.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from studio.core import paths
from studio.core.sweeps.spec import SweepSpec

STORAGE_ENV = "LORA_STUDIO_SWEEP_STORAGE"  # an RDB URL shared by machines (docs/sweeps.md)
SPEC_NAME = "sweep.json"
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


def open_study(spec: SweepSpec) -> optuna.Study:
    """The sweep's study, made or resumed (the sweep file is kept beside it)."""
    folder = sweep_folder(spec.name)
    spec_file = folder / SPEC_NAME
    if not spec_file.exists():
        from studio.core import atomic

        atomic.write_text(spec_file, json.dumps(spec.__dict__, indent=2, default=str) + "\n")
    return optuna.create_study(study_name=spec.name, storage=storage_url(spec.name), load_if_exists=True,
                               direction="minimize", sampler=sampler(spec), pruner=pruner(spec))


@dataclass
class TrialRow:
    number: int
    state: str  # running | complete | pruned | failed
    params: dict[str, Any]
    value: float | None
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, objective) reported
    run_dir: str = ""
    note: str = ""


@dataclass
class StudyView:
    name: str
    objective: str
    planned: int
    trials: list[TrialRow]
    best: TrialRow | None
    importance: dict[str, float]
    best_ref: str = ""  # the library version the best adapter was filed as

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trial in self.trials:
            out[trial.state] = out.get(trial.state, 0) + 1
        return out


_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def read_study(name: str) -> StudyView:
    """The study as the Sweeps page and ``lora-studio sweep --show`` list it (read only)."""
    spec = json.loads((sweep_folder(name) / SPEC_NAME).read_text(encoding="utf-8"))
    study = optuna.load_study(study_name=name, storage=storage_url(name))
    # A pruned trial's value is Optuna's copy of its last reported point: not a result, so left out here.
    rows = [TrialRow(t.number, _STATES.get(t.state.name, t.state.name.lower()), dict(t.params),
                     t.value if t.state.name == "COMPLETE" else None,
                     sorted(t.intermediate_values.items()), str(t.user_attrs.get("run_dir", "")),
                     str(t.user_attrs.get("note", ""))) for t in study.get_trials(deepcopy=False)]
    complete = [r for r in rows if r.state == "complete" and r.value is not None]
    best = min(complete, key=lambda r: r.value) if complete else None  # type: ignore[arg-type, return-value]
    from studio.core.sweeps.spec import grid_size

    planned = int(spec.get("trials") or 0) or (grid_size(_spec_from(spec)) if spec.get("sampler") == "grid" else 0)
    return StudyView(name, str(spec.get("objective", "eval_loss")), planned, rows, best, importance(study),
                     str(study.user_attrs.get("best_ref", "")))


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
