"""training.stage and the preference section: old job files still load as SFT, the settings are
checked like the rest of the job, and what a preference run can't do is said before it starts."""

from __future__ import annotations

import json
from typing import get_args

from studio.core.datasets.stages import STAGE_ROWS
from studio.core.job_schema import JobError, job_from_dict, load_job, validate
from studio.core.jobs import PREFERENCE_STAGES, Stage, TrainJob


def problems(**sections) -> dict[str, str]:
    """Every problem of a train job with these sections, by field (none: {})."""
    try:
        job = job_from_dict({"kind": "train", **sections})
    except JobError as exc:
        return {issue.field: issue.message for issue in exc.issues}
    return {issue.field: issue.message for issue in validate(job)}


def test_a_job_file_from_before_the_stages_loads_as_sft(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"kind": "train", "training": {"max_steps": 5}}), encoding="utf-8")
    job = load_job(path)
    assert isinstance(job, TrainJob) and job.training.stage == "sft" and job.preference.beta == 0.1


def test_the_stages_a_job_can_ask_for_are_the_ones_the_data_rule_knows():
    """The refusals name a stage for each kind of rows (core.datasets.stages): every one of them a job can
    ask for, and none a job can't."""
    assert tuple(STAGE_ROWS) == get_args(Stage) == ("sft", "dpo", "orpo", "simpo", "kto", "grpo")
    assert set(PREFERENCE_STAGES) == set(get_args(Stage)) - {"sft", "grpo"}


def test_preference_settings_are_checked_with_a_fix():
    found = problems(training={"stage": "dpo"}, preference={"beta": 0, "label_smoothing": 0.6})
    assert found["preference.beta"] == "must be > 0, got 0.0; 0.1 is typical"
    assert found["preference.label_smoothing"].startswith("must be in [0, 0.5), got 0.6")
    exo = problems(training={"stage": "dpo"}, preference={"loss_type": "exo_pair"})
    assert "1e-3 is the EXO paper's" in exo["preference.label_smoothing"]
    assert problems(training={"stage": "dpo"}, preference={"loss_type": "ipo", "beta": 0.5}) == {}


def test_what_a_dpo_run_cannot_do_yet_is_refused_before_it_starts():
    found = problems(training={"stage": "dpo", "packing": True, "on_nan": "skip"},
                     distributed={"cpu_processes": 2})
    assert "turn packing off" in found["training.packing"]
    assert "choose stop" in found["training.on_nan"]
    assert "trains in one process" in found["distributed.gpus"]
    assert problems(training={"packing": True, "on_nan": "skip"}) == {}  # sft does all three


def test_an_unknown_stage_names_the_choices():
    assert problems(training={"stage": "ppo"}) == {
        "training.stage": "must be one of sft, dpo, orpo, simpo, kto, grpo, got 'ppo'"}
    assert problems(training={"stage": "kto"}) == {}


def test_kto_needs_two_rows_a_batch_for_its_kl_term():
    found = problems(training={"stage": "kto", "batch_size": 1})
    assert found == {"training.batch_size": "must be at least 2 for kto, got 1: its KL term pairs each row with "
                                            "another row's reply in the same batch; 4-8 is typical"}
    assert problems(training={"stage": "dpo", "batch_size": 1}) == {}


def test_what_every_preference_stage_cannot_do_is_refused_alike():
    for stage in PREFERENCE_STAGES:
        assert set(problems(training={"stage": stage, "packing": True, "on_nan": "skip"})) == {
            "training.packing", "training.on_nan"}, stage


def test_the_cli_builds_a_dpo_job_from_its_flags():
    import argparse

    from studio.cli.job_building import add_train_flags, build_train_job

    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    job = build_train_job(parser.parse_args(["--stage", "dpo", "--dataset", "bundled-preference",
                                             "--set", "preference.beta=0.25"]))
    assert (job.training.stage, job.dataset.path, job.preference.beta) == ("dpo", "bundled-preference", 0.25)
