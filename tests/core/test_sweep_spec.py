"""Sweep files are checked when chosen: every key a train job field, every range sound, the
first trial a valid job, and what pruning and the objective need said by name."""

from __future__ import annotations

import json

import pytest
from tiny_jobs import tiny_job_dict

from studio.core.job_schema import JobError
from studio.core.sweeps.spec import eval_trial_job, grid_size, load_sweep, planned_trials, trial_job


def _file(tmp_path, **fields):
    data = {"kind": "sweep", "base": tiny_job_dict("tiny-model", training={"eval_steps": 2}),
            "space": {"training.learning_rate": [1e-3, 2e-3], "lora.r": [4, 8, 16]}, "sampler": "grid", **fields}
    path = tmp_path / "my-sweep.json"
    path.write_text(json.dumps(data))
    return path


def test_a_grid_sweep_names_itself_counts_its_points_and_builds_trial_jobs(tmp_path):
    spec = load_sweep(_file(tmp_path, space={"training.learning_rate": [1e-3, 2e-3], "lora.r": [4, 8, 16],
                                             "method": ["lora", "dora"]}))
    assert spec.name == "my-sweep" and grid_size(spec) == planned_trials(spec) == 12
    job = trial_job(spec, {"training.learning_rate": 2e-3, "lora.r": 16, "method": "dora"}, 7)
    assert (job.training.learning_rate, job.lora.r, job.lora.use_dora) == (2e-3, 16, True)
    assert job.output.name == "my-sweep-trial-7" and not job.output.add_to_library
    assert job.training.max_steps == 12  # the rest is the base's


@pytest.mark.parametrize(("fields", "said"), [
    ({"space": {"training.learning_rte": [1e-3]}}, "is not a train job field"),
    ({"space": {"lora.r": {"low": 4, "high": 16}}}, "a grid needs a list of choices"),
    ({"sampler": "tpe", "space": {"training.learning_rate": {"low": 0, "high": 1e-3, "log": True}}, "trials": 4},
     "log = true needs low > 0"),
    ({"sampler": "random"}, "must be set for the random sampler"),
    ({"space": {"lora.r": [0]}}, "lora.r"),
    ({"space": {"method": ["lora", "nope"]}}, "a list of methods"),
    ({"base": tiny_job_dict("m")}, "set base training.eval_steps"),
    ({"base": tiny_job_dict("m", dataset={"eval_fraction": 0.0}), "pruner": "none"}, "needs held-out rows"),
])
def test_a_sweep_that_cannot_run_is_refused_naming_the_key(tmp_path, fields, said):
    with pytest.raises(JobError) as caught:
        load_sweep(_file(tmp_path, **fields))
    assert said in str(caught.value)


def test_a_train_job_file_is_not_taken_for_a_sweep(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(tiny_job_dict("m")))
    with pytest.raises(JobError, match="must be \"sweep\""):
        load_sweep(path)


def test_an_eval_job_objective_maximises_a_score_with_no_pruner_and_the_trials_adapter(tmp_path):
    spec = load_sweep(_file(tmp_path, objective="eval:rouge_l", eval={"generate_rows": 4, "split": "all"}))
    assert (spec.direction, spec.pruner) == ("maximize", "none")  # a score goes up; no curve to prune by
    trained = trial_job(spec, {"training.learning_rate": 1e-3, "lora.r": 8}, 0)
    job = eval_trial_job(spec, trained, "/runs/trial-0/adapter")
    assert job.adapters == ["/runs/trial-0/adapter"] and job.model == trained.model
    assert (job.split, job.generate_rows, job.seed, job.max_length) == ("all", 4, 42, 96)  # unset: the trial's
    assert job.dataset == trained.dataset
    assert load_sweep(_file(tmp_path, objective="eval:perplexity")).direction == "minimize"
    assert load_sweep(_file(tmp_path, objective="eval:eval_loss", direction="maximize")).direction == "maximize"


@pytest.mark.parametrize(("fields", "field", "said"), [
    ({"objective": "eval:bleu"}, "objective", "eval:rouge_l, eval:exact_match"),
    ({"objective": "rouge_l"}, "objective", "an eval job's metric: eval:eval_loss"),
    ({"objective": "eval:rouge_l", "pruner": "median"}, "pruner", "set pruner = \"none\""),
    ({"objective": "eval:exact_match", "eval": {"generate_rows": 0}}, "eval.generate_rows", "must be > 0"),
    ({"objective": "eval:rouge_l", "eval": {"adapters": ["x"]}}, "eval.adapters", "each trial's own"),
    ({"objective": "eval:rouge_l", "eval": {"split": "test"}}, "eval.split", "must be one of eval, all"),
    ({"objective": "eval:rouge_l", "eval": {"max_new_token": 8}}, "eval.max_new_token", "max_new_tokens"),
    ({"eval": {"split": "all"}}, "eval", "only with an eval job's objective"),
    ({"objective": "eval:rouge_l", "direction": "up"}, "direction", "must be minimize or maximize"),
])
def test_an_eval_objective_that_cannot_run_is_refused_naming_the_key(tmp_path, fields, field, said):
    with pytest.raises(JobError) as caught:
        load_sweep(_file(tmp_path, **fields))
    assert any(i.field == field and said in i.message for i in caught.value.issues), caught.value.issues
