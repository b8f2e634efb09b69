"""A sweep file: a base train job, what to search, how, for how long, and what to optimise.

```toml
kind = "sweep"
name = "lr-rank"
sampler = "grid"            # grid | random | tpe (Optuna's TPE)
objective = "eval_loss"     # eval_loss | perplexity | train_loss, or an eval job's: "eval:rouge_l"
pruner = "median"           # median | asha | none: stops trials whose eval curve is bad
base_file = "train.toml"    # or the job's sections under [base]
[space]
"training.learning_rate" = [1e-4, 2e-4, 5e-4]          # choices
"lora.r" = [8, 16]
"lora.dropout" = { low = 0.0, high = 0.1 }             # a range (random, tpe)
"method" = ["lora", "dora"]                            # the Train page's Method box
[eval]                      # with objective = "eval:<metric>": the eval job run on each trial's adapter
generate_rows = 16
```

Pure Python, like every job file: checked here (each key a real job field, each value one it
takes, the first trial a valid train job) before anything runs; the Optuna side is study.py.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from studio.core.job_schema import (
    Issue,
    JobError,
    build_section,
    job_from_dict,
    load_job,
    read_job_data,
    to_dict,
)
from studio.core.jobs import EvalJob, TrainJob, _f
from studio.core.methods import METHODS, apply_method
from studio.core.sweeps import objectives

METHOD_KEY = "method"
LOSS_OBJECTIVES = ("eval_loss", "perplexity")


@dataclass
class SweepSpec:
    kind: Literal["sweep"] = "sweep"
    name: str = _f("", "The sweep's name: its study, its folder under <home>/sweeps/ and the best adapter's "
                       "library name (empty = the file's name).")
    base: dict[str, Any] = _f({}, "The train job every trial starts from: its sections, as in a job file.")
    base_file: str = _f("", "A train job file (.toml or .json) the trials start from instead of [base]; "
                            "relative to the sweep file.")
    space: dict[str, Any] = _f({}, "What to search: 'section.field' (or 'method') = a list of choices, or "
                                   "{low, high} (with log = true for rates, step for whole numbers).")
    sampler: Literal["grid", "random", "tpe"] = _f("tpe", "grid: every combination of the choices; random; tpe: "
                                                         "Optuna's TPE, which learns where the good values are.")
    trials: int = _f(0, "How many trials (0 = every combination, for a grid).")
    timeout_s: float = _f(0.0, "Start no trial after this many seconds of the sweep (0 = no limit).")
    objective: str = _f(
        "eval_loss", "What the sweep optimises: the training run's held-out loss (the default), its perplexity, "
                     "the last training loss (for data with no held-out rows), or a metric of an eval job run on "
                     "each trial's adapter after training: eval:rouge_l, eval:exact_match, eval:eval_loss, "
                     "eval:perplexity (the job is the [eval] table).")
    direction: str = _f(
        "", "minimize or maximize the objective (empty = the metric's own: losses down, ROUGE-L and exact match up).")
    eval: dict[str, Any] = _f({}, "With an eval: objective, the eval job run on each trial's adapter: its fields "
                                  "(dataset, split, generate_rows, max_new_tokens, batch_size, max_length, seed) "
                                  "without model and adapters, which are the trial's. Unset ones are the base "
                                  "job's: its dataset, split seed and max_length.")
    pruner: Literal["median", "asha", "none"] = _f(
        "median", "Stop trials early whose eval curve is worse: median (below the median of the trials before "
                  "at the same step), asha (successive halving) or none. Needs training.eval_steps; off (none) "
                  "for an eval: objective, which is known only once a trial's training has ended.")
    parallel: int = _f(1, "Trials in the queue at once (each still waits for a free GPU).")
    seed: int = _f(42, "The sampler's seed: the same file searches the same way.")


def load_sweep(path: str | Path) -> SweepSpec:
    """Read, resolve (``base_file``, the name) and check a sweep file, or raise JobError."""
    path = Path(path)
    data = read_job_data(path)
    if not isinstance(data, dict) or data.get("kind") != "sweep":
        raise JobError([Issue("kind", "must be \"sweep\" in a sweep file (a train job file runs with "
                                      "lora-studio train)")], str(path))
    spec = parse_sweep(data, str(path))
    if spec.base_file:
        base_path = Path(spec.base_file) if Path(spec.base_file).is_absolute() else path.parent / spec.base_file
        spec.base = {**to_dict(load_job(base_path)), **spec.base}
        spec.base_file = str(base_path)
    spec.name = spec.name or path.stem
    if issues := check_sweep(spec):
        raise JobError(issues, str(path))
    return spec


def parse_sweep(data: dict[str, Any], source: str = "sweep") -> SweepSpec:
    issues: list[Issue] = []
    spec = build_section(SweepSpec, data, issues)
    if issues:
        raise JobError(issues, source)
    if objectives.eval_metric(spec.objective) and "pruner" not in data:
        spec.pruner = "none"  # the default pruner judges training curves, which an eval objective has none of
    spec.direction = spec.direction or objectives.default_direction(spec.objective)
    return spec


def check_sweep(spec: SweepSpec) -> list[Issue]:
    """What can't run, each naming its key: caught when the file is chosen, not in a trial."""
    issues: list[Issue] = objectives.check_objective(spec.objective)
    if spec.direction not in ("minimize", "maximize"):
        issues.append(Issue("direction", "must be minimize or maximize (or left out: losses are minimised, "
                                         "ROUGE-L and exact match maximised)"))
    if not spec.name.strip() or any(c in spec.name for c in "/\\") or spec.name.startswith("."):
        issues.append(Issue("name", "must be a plain name (it names a folder and a library adapter)"))
    if not spec.space:
        issues.append(Issue("space", "is empty: name at least one field to search, e.g. "
                                     "\"training.learning_rate\" = [1e-4, 2e-4]"))
    for key, value in spec.space.items():
        issues.extend(_check_dimension(key, value, spec.sampler))
    if spec.sampler != "grid" and spec.trials <= 0:
        issues.append(Issue("trials", f"must be set for the {spec.sampler} sampler (how many trials to run)"))
    if spec.trials < 0 or spec.parallel < 1 or spec.timeout_s < 0:
        issues.append(Issue("trials" if spec.trials < 0 else "parallel" if spec.parallel < 1 else "timeout_s",
                            "must not be negative (parallel: at least 1)"))
    if issues:
        return issues
    try:
        base = job_from_dict({**spec.base, "kind": "train"}, source="base")
    except JobError as exc:
        return [Issue(f"base.{i.field}" if i.field else "base", i.message) for i in exc.issues]
    assert isinstance(base, TrainJob)
    if objectives.eval_metric(spec.objective):
        return _check_eval_objective(spec, base)
    if spec.eval:
        issues.append(Issue("eval", f"is used only with an eval job's objective (objective = \"eval:rouge_l\", "
                                    f"say); {spec.objective} comes from the training run"))
    if spec.objective in LOSS_OBJECTIVES and base.dataset.eval_fraction <= 0:
        issues.append(Issue("objective", f"{spec.objective} needs held-out rows: set base dataset.eval_fraction "
                                         "(e.g. 0.1), or objective = \"train_loss\""))
    if spec.pruner != "none" and spec.objective in LOSS_OBJECTIVES and base.training.eval_steps <= 0:
        issues.append(Issue("pruner", "needs an eval curve to judge trials by: set base training.eval_steps "
                                      "(e.g. 20), or pruner = \"none\""))
    try:
        trial_job(spec, first_values(spec), 0)
    except JobError as exc:
        issues.extend(Issue(f"space: {i.field}", i.message) for i in exc.issues)
    return issues


def _check_eval_objective(spec: SweepSpec, base: TrainJob) -> list[Issue]:
    issues: list[Issue] = []
    if spec.pruner != "none":
        issues.append(Issue("pruner", f"can't judge {spec.objective}: an eval job scores a trial only after its "
                                      "training ends, so there is no curve to stop it by; set pruner = \"none\" "
                                      "(the default with an eval: objective), or optimise eval_loss"))
    for key in sorted(set(spec.eval) & {"kind", "model", "adapters"}):
        issues.append(Issue(f"eval.{key}", "is each trial's own (its base model and adapter): leave it out"))
    if issues:
        return issues
    try:
        job = eval_trial_job(spec, base, "trial-adapter")
    except JobError as exc:
        return [Issue(f"eval.{i.field}" if i.field else "eval", i.message) for i in exc.issues]
    metric = objectives.eval_metric(spec.objective)
    if metric in objectives.ANSWER_METRICS and job.generate_rows <= 0:
        issues.append(Issue("eval.generate_rows", f"must be > 0 for {metric}: it scores the answers to that "
                                                  "many rows (16 is typical)"))
    return issues


def _check_dimension(key: str, value: Any, sampler: str) -> list[Issue]:
    name = f"space.\"{key}\""
    if key == METHOD_KEY:
        if not isinstance(value, list) or not value or any(v not in METHODS for v in value):
            return [Issue(name, f"must be a list of methods from: {', '.join(METHODS)}")]
        return []
    section, _, field = key.partition(".")
    section_class = typing.get_type_hints(TrainJob).get(section)
    if not dataclasses.is_dataclass(section_class) or field not in {f.name for f in dataclasses.fields(section_class)}:
        return [Issue(name, "is not a train job field: write section.field, e.g. training.learning_rate or lora.r")]
    if isinstance(value, list):
        return [] if value else [Issue(name, "has no choices")]
    if isinstance(value, dict):
        if sampler == "grid":
            return [Issue(name, "is a range: a grid needs a list of choices")]
        low, high = value.get("low"), value.get("high")
        if not isinstance(low, int | float) or not isinstance(high, int | float) or isinstance(low, bool) \
                or isinstance(high, bool) or low >= high:
            return [Issue(name, "needs low < high, both numbers")]
        if value.get("log") and low <= 0:
            return [Issue(name, "log = true needs low > 0")]
        unknown = set(value) - {"low", "high", "log", "step"}
        return [Issue(name, f"has unknown keys {sorted(unknown)}; a range takes low, high, log, step")] if unknown \
            else []
    return [Issue(name, "must be a list of choices or a {low, high} range")]


def grid_size(spec: SweepSpec) -> int:
    return math.prod(len(v) for v in spec.space.values() if isinstance(v, list))


def planned_trials(spec: SweepSpec) -> int:
    return spec.trials or (grid_size(spec) if spec.sampler == "grid" else 0)


def first_values(spec: SweepSpec) -> dict[str, Any]:
    return {key: value[0] if isinstance(value, list) else value["low"] for key, value in spec.space.items()}


def trial_job(spec: SweepSpec, params: dict[str, Any], number: int) -> TrainJob:
    """The train job of trial ``number``: the base with ``params`` set; its adapter stays in its run
    folder (the sweep files the best one in the library)."""
    data = copy.deepcopy({**spec.base, "kind": "train"})
    if METHOD_KEY in params:
        data = apply_method(data, str(params[METHOD_KEY]))
    for key, value in params.items():
        if key != METHOD_KEY:
            section, _, field = key.partition(".")
            data.setdefault(section, {})[field] = value
    output = data.setdefault("output", {})
    output.update(name=f"{spec.name}-trial-{number}", add_to_library=False)
    job = job_from_dict(data, source=f"trial {number}")
    assert isinstance(job, TrainJob)
    return job


def eval_trial_job(spec: SweepSpec, trained: TrainJob, adapter: str) -> EvalJob:
    """The eval job that scores a trial for an ``eval:`` objective: the [eval] table, on the trial's
    base model and ``adapter``; unset fields are the trial's (its dataset, split seed, max_length),
    so split = "eval" scores the rows its training held out."""
    data = {"dataset": dataclasses.asdict(trained.dataset), "seed": trained.training.seed,
            "max_length": trained.training.max_length, **copy.deepcopy(spec.eval),
            "kind": "eval", "model": dataclasses.asdict(trained.model), "adapters": [adapter]}
    job = job_from_dict(data, source="eval")
    assert isinstance(job, EvalJob)
    return job
