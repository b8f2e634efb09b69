"""training.report_to: what ``auto`` means, which lists make sense, and a tracker this machine
lacks refused where the job is chosen (never by the worker, which warns: tests/engine)."""

from __future__ import annotations

import pytest

from studio.core import machine_fit, trackers
from studio.core.cards import Card, DatasetRef
from studio.core.job_schema import JobError, job_from_dict
from studio.core.jobs import TrainJob


def everything(_name: str) -> bool:
    return True


def nothing(_name: str) -> bool:
    return False


def test_auto_is_tensorboard_where_it_is_installed_and_none_is_nothing():
    assert trackers.chosen(["auto"], everything) == ["tensorboard"]
    assert trackers.chosen(["auto"], nothing) == []
    assert trackers.chosen(["none"], everything) == [] and trackers.chosen([], everything) == []
    assert trackers.chosen(["mlflow", "wandb", "mlflow"], nothing) == ["mlflow", "wandb"]  # named: as they are
    assert TrainJob().training.report_to == ["auto"]


def test_only_named_trackers_can_be_missing():
    assert trackers.missing(["auto"], nothing) == []
    assert trackers.missing(["tensorboard", "wandb"], lambda name: name == "tensorboard") == ["wandb"]


def test_a_job_lists_trackers_by_name_and_auto_or_none_alone():
    job = job_from_dict({"training": {"report_to": "tensorboard, mlflow"}})  # as --set writes it
    assert job.training.report_to == ["tensorboard", "mlflow"]
    with pytest.raises(JobError) as refused:
        job_from_dict({"training": {"report_to": ["none", "mlflow"]}})
    assert "training.report_to 'none' stands alone" in str(refused.value)
    with pytest.raises(JobError) as unknown:
        job_from_dict({"training": {"report_to": ["tensorbord"]}})
    assert "training.report_to[0] must be one of auto, none, tensorboard, mlflow, wandb, trackio" in str(unknown.value)


def test_a_tracker_this_machine_lacks_is_refused_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(trackers, "installed", lambda name: name != "wandb")
    job = job_from_dict({"training": {"report_to": ["tensorboard", "wandb"], "device": "cpu"}})
    issues = machine_fit.machine_issues(job, [])
    assert [str(issue) for issue in issues] == [
        "training.report_to wandb is not installed: pip install 'lora-studio[trackers]' (or pip install wandb), "
        "or leave it out of training.report_to"]
    assert "lora-studio[trackers]" in machine_fit.MachineError(issues).hint
    assert machine_fit.machine_issues(job, [], trackers_wanted=False) == []  # the worker's: it warns instead
    assert machine_fit.machine_issues(TrainJob(), []) == []  # auto never is


def test_what_a_tracker_gets_beside_the_trainers_own_numbers():
    params = trackers.job_params({"kind": "train", "lora": {"r": 8, "target_modules": ["auto"]},
                                  "training": {"learning_rate": 2e-4, "sample_prompt": "Who are you?"}})
    assert params == {"kind": "train", "lora.r": "8", "lora.target_modules": '["auto"]',
                      "training.learning_rate": "0.0002", "training.sample_prompt": "Who are you?"}
    card = Card(name="pirate", method="dora", training={"stage": "sft"},
                dataset=DatasetRef(path="/data/pirate.jsonl", fingerprint="abc", rows_train=40))
    tags = trackers.card_tags(card, "run-1")
    assert tags["lora_studio.adapter"] == "pirate" and tags["lora_studio.method"] == "dora"
    assert tags["lora_studio.dataset_fingerprint"] == "abc" and tags["lora_studio.run_id"] == "run-1"
    assert "lora_studio.parents" not in tags  # nothing to say: no empty tag
    assert trackers.card_tags(None, "run-1") == {"lora_studio.run_id": "run-1"}
    assert trackers.final_metrics({"eval_loss": 1.5, "steps": 4, "strategy": "ddp", "stopped": False,
                                   "preference": {"rewards/margins": 0.25}, "perplexity": None}) == {
        "eval_loss": 1.5, "steps": 4.0, "preference/rewards/margins": 0.25}


def test_mlflow_goes_to_the_home_unless_told(monkeypatch, studio_home):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert trackers.mlflow_uri("") == (studio_home / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert trackers.mlflow_uri("") == "http://127.0.0.1:5000"
    assert trackers.mlflow_uri("databricks") == "databricks"
