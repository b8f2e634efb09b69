"""The experiment trackers a training run can also report to (``training.report_to``).

transformers' own integrations do the logging (engine.trackers hands them the names); this
module is what the job, the CLI, the Train page and the doctor need to know without
importing any of them: which trackers there are, whether each is installed (looked up, not
imported: mlflow alone takes a second), what ``auto`` means, where each writes by default,
and what a run tells them beyond the Trainer's own numbers (the job, the card's key facts,
the final metrics). Our events.jsonl stays the run's record; a tracker is a copy.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from studio.core import paths

INSTALL_HINT = "pip install 'lora-studio[trackers]'"
# "auto": TensorBoard's event files in the run folder when tensorboard is installed (no account, no
# server, nothing leaves the machine); the others only when named.
AUTO, NONE = "auto", "none"


@dataclass(frozen=True)
class Tracker:
    name: str  # transformers' report_to name
    module: str  # what must be importable
    package: str  # what pip installs
    label: str
    where: str  # where it writes by default, for help and the doctor


TRACKERS: dict[str, Tracker] = {t.name: t for t in (
    Tracker("tensorboard", "tensorboard", "tensorboard", "TensorBoard",
            "event files in <run>/tensorboard/ (tensorboard --logdir <home>/runs)"),
    Tracker("mlflow", "mlflow", "mlflow-skinny", "MLflow",
            "<home>/mlruns, or training.mlflow_tracking_uri / MLFLOW_TRACKING_URI"),
    Tracker("wandb", "wandb", "wandb", "Weights & Biases",
            "offline, in <run>/wandb/, unless logged in or WANDB_MODE=online (wandb sync uploads it)"),
    Tracker("trackio", "trackio", "trackio", "Trackio", "<home>/trackio (trackio show)"),
)}


@cache
def installed(name: str) -> bool:
    """Whether the tracker's package can be imported here (looked up, not imported)."""
    try:
        return importlib.util.find_spec(TRACKERS[name].module) is not None
    except (ImportError, ValueError):
        return False


def chosen(report_to: Sequence[str], is_installed: Callable[[str], bool] | None = None) -> list[str]:
    """The trackers a run reports to: ``auto`` is TensorBoard where it is installed, ``none``
    (or an empty list) none; named ones as they are, installed or not (the worker warns)."""
    if NONE in report_to:
        return []
    names = [name for name in report_to if name in TRACKERS]
    if AUTO in report_to and (is_installed or installed)("tensorboard") and "tensorboard" not in names:
        names.insert(0, "tensorboard")
    return list(dict.fromkeys(names))


def missing(report_to: Sequence[str], is_installed: Callable[[str], bool] | None = None) -> list[str]:
    """The trackers named (not through ``auto``) that are not installed here."""
    return [name for name in dict.fromkeys(report_to) if name in TRACKERS and not (is_installed or installed)(name)]


def not_installed_message(name: str) -> str:
    tracker = TRACKERS[name]
    return (f"{tracker.name} is not installed: {INSTALL_HINT} (or pip install {tracker.package}), or leave it "
            f"out of training.report_to")


def choice_problems(report_to: Sequence[str]) -> list[str]:
    """What can't be meant in a ``report_to`` list (the names themselves are typed in core.jobs)."""
    alone = [word for word in (AUTO, NONE) if word in report_to]
    if alone and len(set(report_to)) > 1:
        return [f"'{alone[0]}' stands alone; list the trackers instead, e.g. ['tensorboard', 'mlflow'], got "
                f"{report_to}"]
    return []


def tensorboard_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "tensorboard"


def mlflow_uri(setting: str) -> str:
    """The job's URI, else MLFLOW_TRACKING_URI, else a local store in the home (``mlflow ui
    --backend-store-uri`` reads it, with MLFLOW_ALLOW_FILE_STORE=true on MLflow 3)."""
    return setting or os.environ.get("MLFLOW_TRACKING_URI") or (paths.home() / "mlruns").as_uri()


def trackio_dir() -> Path:
    return paths.home() / "trackio"


def job_params(job_dict: dict[str, Any]) -> dict[str, str]:
    """The job as flat ``section.field`` -> text params (lists and tables as JSON), the form
    trackers compare runs by; the Trainer's own arguments are logged beside them by transformers."""
    params: dict[str, str] = {}
    for section, values in job_dict.items():
        if not isinstance(values, dict):
            params[section] = str(values)
            continue
        for name, value in values.items():
            params[f"{section}.{name}"] = value if isinstance(value, str) else json.dumps(value, default=str)
    return params


def card_tags(card: Any, run_id: str) -> dict[str, str]:
    """A card's key facts (core.cards.Card, or None before one is written), as short tags."""
    tags = {"lora_studio.run_id": run_id}
    if card is None:
        return tags
    facts = {"adapter": card.name, "method": card.method, "stage": (card.training or {}).get("stage"),
             "base_model": card.base_model.label, "dataset": card.dataset.path,
             "dataset_fingerprint": card.dataset.fingerprint, "rows_train": card.dataset.rows_train,
             "parents": ", ".join(card.parents)}
    tags.update({f"lora_studio.{key}": str(value) for key, value in facts.items() if value not in (None, "")})
    return tags


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The run's numbers (core.outputs.TrainMetrics as a dict) that are numbers, flattened."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update({f"{key}/{inner}": float(v) for inner, v in value.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)})
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    return out
