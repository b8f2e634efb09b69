"""training.report_to on real tiny runs: TensorBoard's event files and an MLflow run, read back
with each tool's own reader; a tracker that fails or is missing gives a warning and the run
still finishes (events.jsonl stays the record)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import transformers
from helpers import Recorder, tiny_job

from studio.core import protocol, trackers
from studio.engine import trackers as engine_trackers
from studio.engine.control import JobControl
from studio.engine.training import run_training

STEPS = 4


def tracker_warnings(rec: Recorder) -> list[str]:
    return [w.message for w in rec.of(protocol.Warning) if "report" in w.message or "tracker" in w.message]


@pytest.fixture(scope="module")
def tracked(tiny_model_dir, tmp_path_factory):
    """One run reporting to TensorBoard and MLflow (a local store in a temp folder)."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    store = tmp_path_factory.mktemp("mlruns")
    run_dir = tmp_path_factory.mktemp("runs") / "run-tracked"
    run_dir.mkdir()
    job = tiny_job(tiny_model_dir, steps=STEPS, training={"report_to": ["tensorboard", "mlflow"],
                                                          "mlflow_tracking_uri": str(store)})
    rec = Recorder()
    outputs = run_training(job, run_dir, rec, JobControl())
    return run_dir, store, rec, outputs


@pytest.mark.slow  # trains the tiny model
def test_tensorboard_event_files_hold_the_loss_of_every_step(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, store, rec, outputs = tracked
    folder = trackers.tensorboard_dir(run_dir)
    assert any(path.name.startswith("events.out.tfevents") for path in folder.iterdir())
    events = EventAccumulator(str(folder))
    events.Reload()
    scalars = events.Tags()["scalars"]
    losses = events.Scalars("train/loss")
    assert [point.step for point in losses] == list(range(1, STEPS + 1))
    assert [point.value for point in losses] == pytest.approx(rec.losses(), rel=1e-4)  # the steps we streamed
    assert "eval/loss" in scalars
    final = events.Scalars("final/eval_loss")
    assert final[-1].step == STEPS and final[-1].value == pytest.approx(outputs.metrics.eval_loss, rel=1e-5)
    assert {"lora_studio/job/text_summary", "lora_studio/card/text_summary"} <= set(events.Tags()["tensors"])
    assert tracker_warnings(rec) == []
    said = [p.detail for p in rec.of(protocol.Phase) if p.detail and p.detail.startswith("reporting to")]
    assert said == [f"reporting to tensorboard: {folder}; mlflow: {store.as_uri()}"]


@pytest.mark.slow  # trains the tiny model
def test_the_mlflow_run_has_the_job_the_card_and_the_final_numbers(tracked):
    import mlflow

    run_dir, store, _rec, outputs = tracked
    mlflow.set_tracking_uri(store.as_uri())
    found = mlflow.search_runs(experiment_names=[engine_trackers.PROJECT])
    assert len(found) == 1
    run = found.iloc[0]
    assert run["status"] == "FINISHED" and run["tags.mlflow.runName"] == run_dir.name
    assert run["params.training.max_steps"] == str(STEPS) and run["params.lora.r"] == "8"
    assert run["params.learning_rate"] == "0.01"  # transformers' own: the Trainer's arguments
    assert run["tags.lora_studio.adapter"] == outputs.name and run["tags.lora_studio.run_id"] == run_dir.name
    assert run["metrics.final/eval_loss"] == pytest.approx(outputs.metrics.eval_loss, rel=1e-6)
    assert run["metrics.final/train_loss"] == pytest.approx(outputs.metrics.train_loss, rel=1e-6)
    assert run["metrics.loss"] == pytest.approx(outputs.metrics.train_loss, rel=1e-4)  # the last step's, by transformers


@pytest.mark.slow  # trains the tiny model
def test_the_run_leaves_the_environment_as_it_found_it(tracked):
    assert "TENSORBOARD_LOGGING_DIR" not in os.environ and "MLFLOW_EXPERIMENT_NAME" not in os.environ
    assert engine_trackers.report_to() == []


@pytest.mark.slow  # trains the tiny model
def test_a_tracker_that_fails_is_left_out_with_a_warning_and_the_run_finishes(tiny_model_dir, tmp_path):
    pytest.importorskip("mlflow")
    run_dir = tmp_path / "run-bad-uri"
    run_dir.mkdir()
    job = tiny_job(tiny_model_dir, steps=2, dataset={"eval_fraction": 0.0},
                   training={"report_to": ["mlflow"], "mlflow_tracking_uri": "nosuchscheme://nowhere"})
    rec = Recorder()
    outputs = run_training(job, run_dir, rec, JobControl())
    assert Path(outputs.adapter_path, "adapter_model.safetensors").exists()
    assert len(rec.of(protocol.Step)) == 2
    (warning,) = tracker_warnings(rec)
    assert warning.startswith("MLflow stopped reporting (on_train_begin)") and "nosuchscheme" in warning
    assert "check training.mlflow_tracking_uri" in warning and "The run goes on without it" in warning


def test_a_tracker_that_is_not_installed_is_named_and_the_run_goes_on(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(trackers, "installed", lambda name: name != "wandb")
    job = tiny_job(tiny_model_dir, training={"report_to": ["wandb"]})
    rec = Recorder()
    with engine_trackers.tracking(job, tmp_path, rec):
        assert engine_trackers.report_to() == []
    (warning,) = rec.of(protocol.Warning)
    assert "training.report_to names wandb is not installed: pip install 'lora-studio[trackers]'" in warning.message


def test_auto_reports_to_tensorboard_in_the_run_folder_when_installed(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(trackers, "installed", lambda name: name == "tensorboard")
    with engine_trackers.tracking(tiny_job(tiny_model_dir), tmp_path, Recorder()):
        assert engine_trackers.report_to() == ["tensorboard"]
        assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "tensorboard")
        assert engine_trackers.run_arguments(tmp_path, transformers.TrainingArguments)["run_name"] == tmp_path.name
    monkeypatch.setattr(trackers, "installed", lambda name: False)
    with engine_trackers.tracking(tiny_job(tiny_model_dir), tmp_path, Recorder()):
        assert engine_trackers.run_arguments(tmp_path, transformers.TrainingArguments) == {"report_to": []}


def test_wandb_is_offline_in_the_run_folder_unless_logged_in(monkeypatch, tmp_path, tiny_model_dir):
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    env = engine_trackers.environment(["wandb"], tiny_job(tiny_model_dir), tmp_path / "run")
    assert env["WANDB_MODE"] == "offline" and env["WANDB_DIR"] == str(tmp_path / "run")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert engine_trackers.environment(["wandb"], tiny_job(tiny_model_dir), tmp_path)["WANDB_MODE"] == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the user's own choice wins
    assert engine_trackers.environment(["wandb"], tiny_job(tiny_model_dir), tmp_path)["WANDB_MODE"] == "disabled"


@pytest.mark.slow  # trains the tiny model
def test_wandb_writes_an_offline_run_into_the_run_folder(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc login: offline
    run_dir = tmp_path / "run-wandb"
    run_dir.mkdir()
    rec = Recorder()
    outputs = run_training(tiny_job(tiny_model_dir, steps=2, training={"report_to": ["wandb"]}), run_dir, rec,
                           JobControl())
    assert outputs.adapter_path and tracker_warnings(rec) == []
    assert list((run_dir / "wandb").glob("offline-run-*")), sorted(p.name for p in (run_dir / "wandb").iterdir())


@pytest.mark.slow  # trains the tiny model
def test_trackio_writes_into_the_home(tiny_model_dir, tmp_path, monkeypatch, studio_home):
    pytest.importorskip("trackio")
    monkeypatch.delenv("TRACKIO_DIR", raising=False)
    monkeypatch.delenv("TRACKIO_SPACE_ID", raising=False)
    run_dir = tmp_path / "run-trackio"
    run_dir.mkdir()
    rec = Recorder()
    outputs = run_training(tiny_job(tiny_model_dir, steps=2, training={"report_to": ["trackio"]}), run_dir, rec,
                           JobControl())
    assert outputs.adapter_path and tracker_warnings(rec) == []
    assert any(trackers.trackio_dir().iterdir())


class Exploding(transformers.TrainerCallback):
    def __init__(self) -> None:
        self.ended = False

    def on_log(self, args, state, control, **kwargs):
        raise ConnectionError("the server went away")

    def on_train_end(self, args, state, control, **kwargs):
        self.ended = True


def test_a_guarded_integration_warns_once_and_closes_only_when_told():
    said: list[tuple[str, str]] = []
    inner = Exploding()
    guard = engine_trackers.Guarded(inner, "mlflow", lambda name, error, when: said.append((name, when)))
    for _ in range(3):
        assert guard.on_log(None, None, None, logs={}) is None
    assert said == [("mlflow", "on_log")] and guard.broken
    guard.on_train_end(None, None, None)
    assert not inner.ended  # held until the run's card and final numbers are logged
    guard.broken = False
    guard.end()
    assert inner.ended
