"""A training run's reports to the trackers of ``training.report_to`` (TensorBoard, MLflow,
W&B, Trackio), through transformers' own integrations: ``TrainingArguments.report_to``.

What this adds to them. Where each writes (TensorBoard in the run folder, MLflow and Trackio
in the home, W&B offline in the run folder unless the user is logged in), set through the
environment variables the integrations read. A guard around each integration: a tracker that
raises (a server that does not answer, a broken install) is left out with a ``warning`` event
saying what to do, and the run goes on; events.jsonl stays its record. And the run's job, its
card's key facts and its final numbers, logged once they exist: transformers ends its
trackers at the end of ``train()``, before the final evaluation and the card, so each
integration's ``on_train_end`` is held back until ``Tracking.finish``.

The worker enters :func:`tracking` around a train job (engine.training.run_training);
``step_setup.training_arguments`` asks :func:`report_to`, so nothing else (the benchmark,
tests that train directly) reports anywhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import netrc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import transformers
from transformers.integrations import INTEGRATION_TO_CALLBACK

from studio.core import cards, protocol, trackers
from studio.core.jobs import TrainJob
from studio.core.outputs import TrainOutputs
from studio.engine import distributed

log = logging.getLogger(__name__)
Emit = Callable[[protocol.Event], None]
PROJECT = "lora-studio"  # the MLflow experiment, W&B and Trackio project, unless the user's environment names one
FIXES = {
    "tensorboard": "check that the run folder can be written, and that tensorboard imports "
                   "(python -c 'import tensorboard')",
    "mlflow": "check training.mlflow_tracking_uri (or MLFLOW_TRACKING_URI): a folder, a file: URI or a server "
              "that answers",
    "wandb": "run `wandb login`, or set WANDB_MODE=offline",
    "trackio": "check that TRACKIO_DIR can be written",
}


@dataclasses.dataclass(frozen=True)
class FinalReport:
    """What a tracker gets once the run is over, beside what the Trainer logged."""
    params: dict[str, str]  # the job, as section.field
    tags: dict[str, str]  # the card's key facts
    metrics: dict[str, float]  # the run's numbers (core.outputs.TrainMetrics)
    step: int


class Guarded(transformers.TrainerCallback):
    """One integration's callback, forwarded every event but ``on_train_end`` (held for
    ``Tracking.finish``); the first exception leaves the tracker out and warns."""

    def __init__(self, inner: transformers.TrainerCallback, name: str, warn: Callable[[str, BaseException, str], None]):
        self.inner, self.name, self._warn = inner, name, warn
        self.broken = False
        self.held_end: tuple[Any, Any, Any, dict[str, Any]] | None = None

    def call(self, what: str, function: Callable[[], Any]) -> Any:
        if self.broken:
            return None
        try:
            return function()
        except Exception as exc:  # noqa: BLE001 - a tracker never ends the run
            self.broken = True
            self._warn(self.name, exc, what)
            return None

    def on_train_end(self, args, state, control, **kwargs):
        self.held_end = (args, state, control, kwargs)

    def end(self) -> None:
        if self.held_end is not None:
            args, state, control, kwargs = self.held_end
            self.held_end = None
            self.call("closing", lambda: self.inner.on_train_end(args, state, control, **kwargs))


def _forwarded(event: str):
    def forward(self: Guarded, args, state, control, **kwargs):
        return self.call(event, lambda: getattr(self.inner, event)(args, state, control, **kwargs))
    forward.__name__ = event
    return forward


for _event in [name for name in vars(transformers.TrainerCallback) if name.startswith("on_")]:
    if _event != "on_train_end":
        setattr(Guarded, _event, _forwarded(_event))


class Tracking:
    """The trackers one run reports to, from the job's choice to their close."""

    def __init__(self, names: list[str], job: TrainJob, run_dir: Path, emit: Emit):
        self.names, self.job, self.run_dir, self.emit = names, job, run_dir, emit
        self.guards: list[Guarded] = []

    def warn(self, name: str, error: BaseException, when: str) -> None:
        label = trackers.TRACKERS[name].label
        self.emit(protocol.Warning(f"{label} stopped reporting ({when}): {type(error).__name__}: {error}. The run "
                                   f"goes on without it (events.jsonl has every number); {FIXES[name]}."))
        log.warning("%s failed (%s)", name, when, exc_info=error)

    def adopt(self, trainer) -> None:
        """Guard the integrations ``trainer`` made from ``report_to`` (every stage calls this)."""
        if self.names:  # said where the data is ready, beside the fast path: where the numbers go
            self.emit(protocol.Phase("preparing_data", detail="reporting to " + "; ".join(
                describe(name, self.run_dir) for name in self.names)))
        classes = {INTEGRATION_TO_CALLBACK[name]: name for name in self.names}
        handler = trainer.callback_handler.callbacks
        for index, callback in enumerate(handler):
            if type(callback) in classes:
                guard = Guarded(callback, classes[type(callback)], self.warn)
                handler[index] = guard
                self.guards.append(guard)

    def finish(self, outputs: TrainOutputs) -> None:
        """Log the job, the card's facts and the final numbers, then close every tracker."""
        if distributed.is_main_process() and self.guards:
            card = cards.read_card(Path(outputs.adapter_path)) if outputs.adapter_path else None
            report = FinalReport(trackers.job_params(dataclasses.asdict(self.job)),
                                 trackers.card_tags(card, self.run_dir.name),
                                 trackers.final_metrics(outputs.metrics.to_dict()), outputs.metrics.steps or 0)
            for guard in self.guards:
                guard.call("the final report", lambda guard=guard: _FINAL[guard.name](guard.inner, report))
        self.close(failed=False)

    def close(self, failed: bool) -> None:
        for guard in self.guards:
            if failed and guard.name == "mlflow":
                guard.call("closing", lambda inner=guard.inner: _end_mlflow(inner, "FAILED"))
            guard.end()
            if guard.name == "wandb":
                guard.call("closing", lambda inner=guard.inner: inner._wandb.finish(exit_code=1 if failed else 0))
        self.guards = []


_active: list[Tracking] = []


def report_to() -> list[str]:
    """The trackers of the run being tracked, for its TrainingArguments (none outside one)."""
    return list(_active[-1].names) if _active else []


def adopt(trainer) -> None:
    if _active:
        _active[-1].adopt(trainer)


@contextlib.contextmanager
def tracking(job: TrainJob, run_dir: Path, emit: Emit) -> Iterator[Tracking]:
    """The run's trackers, set up for transformers; closed when the block ends (failed where it
    raised). Trackers that are not installed, or do not import, are left out with a warning."""
    names = usable(job, emit)
    env = environment(names, job, run_dir)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    if "mlflow" in names:  # a URI set earlier in this process (mlflow keeps one) must not win over the job's
        importlib.import_module("mlflow").set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    session = Tracking(names, job, Path(run_dir), emit)
    _active.append(session)
    try:
        yield session
    except BaseException:
        session.close(failed=True)
        raise
    finally:
        _active.remove(session)
        session.close(failed=False)  # already closed where it finished or failed
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def usable(job: TrainJob, emit: Emit) -> list[str]:
    """The job's trackers that import here; each that does not is named in a warning."""
    names = []
    for name in trackers.chosen(job.training.report_to):
        if not trackers.installed(name):
            emit(protocol.Warning(f"training.report_to names {trackers.not_installed_message(name)}. The run goes "
                                  "on without it."))
            continue
        try:
            importlib.import_module(trackers.TRACKERS[name].module)
        except Exception as exc:  # noqa: BLE001 - a broken install is the tracker's problem, not the run's
            emit(protocol.Warning(f"{name} is installed but does not import ({type(exc).__name__}: {exc}); the run "
                                  f"goes on without it. Reinstall it: {trackers.INSTALL_HINT}"))
            continue
        names.append(name)
    return names


def environment(names: list[str], job: TrainJob, run_dir: Path) -> dict[str, str]:
    """The variables transformers' integrations read: ours where the place is ours (the run folder),
    the user's own where they set one (a project name, W&B's mode)."""
    env: dict[str, str] = {}
    if "tensorboard" in names:
        env["TENSORBOARD_LOGGING_DIR"] = str(trackers.tensorboard_dir(run_dir))
    if "mlflow" in names:
        env["MLFLOW_TRACKING_URI"] = _mlflow_uri(job.training.mlflow_tracking_uri)
        env["MLFLOW_EXPERIMENT_NAME"] = os.environ.get("MLFLOW_EXPERIMENT_NAME") or PROJECT
        # MLflow 3 refuses a folder store unless asked; skinny installs have no SQL store.
        env["MLFLOW_ALLOW_FILE_STORE"] = os.environ.get("MLFLOW_ALLOW_FILE_STORE") or "true"
    if "wandb" in names:
        env["WANDB_DIR"] = str(run_dir)
        env["WANDB_PROJECT"] = os.environ.get("WANDB_PROJECT") or PROJECT
        env["WANDB_MODE"] = os.environ.get("WANDB_MODE") or ("online" if _wandb_logged_in() else "offline")
    if "trackio" in names:
        env["TRACKIO_DIR"] = os.environ.get("TRACKIO_DIR") or str(trackers.trackio_dir())
    return env


def describe(name: str, run_dir: Path) -> str:
    if name == "tensorboard":
        return f"tensorboard: {trackers.tensorboard_dir(run_dir)}"
    if name == "mlflow":
        return f"mlflow: {os.environ.get('MLFLOW_TRACKING_URI')}"
    if name == "wandb":
        mode = os.environ.get("WANDB_MODE")
        return f"wandb ({mode}): {Path(run_dir) / 'wandb'}" + (" (wandb sync uploads it)" if mode == "offline" else "")
    return f"{name}: {os.environ.get('TRACKIO_DIR')}"


def run_arguments(run_dir: Path, config_class: type) -> dict[str, Any]:
    """The TrainingArguments of the trackers: which, and the run's name in each (its run id)."""
    names = report_to()
    if not names:
        return {"report_to": []}
    named = {"report_to": names, "run_name": Path(run_dir).name}
    if any(field.name == "project" for field in dataclasses.fields(config_class)):  # transformers >= 4.57: trackio's
        named["project"] = PROJECT
    return named


def _mlflow_uri(setting: str) -> str:
    uri = trackers.mlflow_uri(setting)
    if "://" not in uri and (os.sep in uri or "/" in uri or uri.startswith(("~", "."))):  # a folder, not "databricks"
        uri = Path(uri).expanduser().resolve().as_uri()
    return uri


def _wandb_logged_in() -> bool:
    """An API key in the environment or in ~/.netrc (`wandb login` writes it there)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _end_mlflow(callback, status: str) -> None:
    if callback._ml_flow.active_run() is not None:
        callback._ml_flow.end_run(status=status)


def _final_tensorboard(callback, report: FinalReport) -> None:
    writer = callback.tb_writer
    if writer is None:
        return
    writer.add_text("lora_studio/job", "```json\n" + json.dumps(report.params, indent=1) + "\n```", report.step)
    writer.add_text("lora_studio/card", "\n".join(f"- {key}: {value}" for key, value in report.tags.items()),
                    report.step)
    for key, value in report.metrics.items():
        writer.add_scalar(f"final/{key}", value, report.step)
    writer.flush()


def _final_mlflow(callback, report: FinalReport) -> None:
    mlflow = callback._ml_flow
    if mlflow.active_run() is None:
        return
    longest = mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
    items = [(key, value[:longest]) for key, value in report.params.items()]
    per_batch = mlflow.utils.validation.MAX_PARAMS_TAGS_PER_BATCH
    for start in range(0, len(items), per_batch):
        mlflow.log_params(dict(items[start:start + per_batch]))
    mlflow.set_tags(report.tags)
    mlflow.log_metrics({f"final/{key}": value for key, value in report.metrics.items()}, step=report.step)


def _final_wandb(callback, report: FinalReport) -> None:
    run = callback._wandb.run
    if run is None:
        return
    run.config.update({"lora_studio": report.params, "lora_studio_card": report.tags}, allow_val_change=True)
    run.summary.update({f"final/{key}": value for key, value in report.metrics.items()})


def _final_trackio(callback, report: FinalReport) -> None:
    callback._trackio.config.update({**report.params, **report.tags}, allow_val_change=True)
    callback._trackio.log({f"final/{key}": value for key, value in report.metrics.items()})


_FINAL: dict[str, Callable[[Any, FinalReport], None]] = {
    "tensorboard": _final_tensorboard, "mlflow": _final_mlflow, "wandb": _final_wandb, "trackio": _final_trackio,
}
