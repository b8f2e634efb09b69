"""What a sweep can optimise, which way, and where each trial's value is read from.

Two kinds of objective: a number the training run reports itself (``eval_loss``, ``perplexity``,
``train_loss``: its done event), or a metric of an eval job run on the trial's adapter once it is
trained (``eval:rouge_l``: the eval worker's result for that adapter, studio.engine.evaluation).
The eval job's metric names and which way each is better are compare_report's, so the sweep, the
Compare page and ``lora-studio eval`` agree on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from studio.core import runs
from studio.core.compare_report import LOWER_IS_BETTER, METRIC_COLUMNS
from studio.core.job_schema import Issue

Direction = Literal["minimize", "maximize"]
TRAIN_OBJECTIVES = ("eval_loss", "perplexity", "train_loss")  # from the training run's own events
EVAL_PREFIX = "eval:"
EVAL_METRICS = tuple(key for _title, key in METRIC_COLUMNS)  # what an eval job reports per adapter
ANSWER_METRICS = ("rouge_l", "exact_match")  # scores of generated answers (higher is better); need generate_rows


def eval_metric(objective: str) -> str:
    """The eval job's metric an ``eval:<metric>`` objective names ("" for a training objective)."""
    return objective[len(EVAL_PREFIX):] if objective.startswith(EVAL_PREFIX) else ""


def default_direction(objective: str) -> Direction:
    """Losses go down, scores (ROUGE-L, exact match) go up."""
    metric = eval_metric(objective)
    return "maximize" if metric and metric not in LOWER_IS_BETTER else "minimize"


def label(objective: str) -> str:
    """The objective as the Sweeps page and ``lora-studio sweep --show`` name it."""
    metric = eval_metric(objective)
    if not metric:
        return objective
    title = dict((key, title) for title, key in METRIC_COLUMNS).get(metric, metric)
    return f"{title} (eval job)"


def goal(objective: str, direction: str) -> str:
    """"minimising eval_loss", "maximising ROUGE-L (eval job)"."""
    return f"{'maximising' if direction == 'maximize' else 'minimising'} {label(objective)}"


def check_objective(objective: str) -> list[Issue]:
    if objective in TRAIN_OBJECTIVES:
        return []
    metric = eval_metric(objective)
    if objective.startswith(EVAL_PREFIX) and metric not in EVAL_METRICS:
        return [Issue("objective", f"{metric!r} is not a metric an eval job reports: use one of "
                                   + ", ".join(EVAL_PREFIX + m for m in EVAL_METRICS))]
    if not metric:
        return [Issue("objective", f"must be one of {', '.join(TRAIN_OBJECTIVES)} (from the training run), or "
                                   f"an eval job's metric: {', '.join(EVAL_PREFIX + m for m in EVAL_METRICS)}")]
    return []


def train_value(run_dir: Path, objective: str) -> float | None:
    """A training objective's value, from the run's done event (the card's numbers)."""
    trained = runs.summarize(run_dir).trained
    if trained is None:
        return None
    value = getattr(trained.metrics, objective, None)
    return float(value) if isinstance(value, int | float) else None


def eval_value(run_dir: Path, metric: str) -> float | None:
    """The trial's adapter's ``metric`` from its eval run's done event. The eval job scores the
    base first and then the one adapter it was given: the adapter's row is the last."""
    summary = runs.summarize(run_dir)
    results = summary.outputs.get("results") if summary.status == "done" else None
    if not isinstance(results, list) or len(results) < 2 or not isinstance(results[-1], dict):
        return None
    value = results[-1].get(metric)
    return float(value) if isinstance(value, int | float) else None
