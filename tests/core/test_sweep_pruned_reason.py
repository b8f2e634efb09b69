"""A pruned trial's reason says what the pruner compared: the step, the trial's value (its best so
far, which the median pruner judges), and the median of the complete trials there (or ASHA's share)."""

from __future__ import annotations

import json

from tiny_jobs import tiny_job_dict

from studio.core.sweeps.spec import load_sweep
from studio.core.sweeps.study import distributions, open_study, why_pruned


def _study(tmp_path, **fields):
    data = {"kind": "sweep", "name": "why", "sampler": "grid", "base": tiny_job_dict("tiny", training={"eval_steps": 2}),
            "space": {"training.learning_rate": [1e-3, 2e-3, 5e-3, 1e-2]}, "objective": "eval_loss", **fields}
    path = tmp_path / "why.json"
    path.write_text(json.dumps(data))
    spec = load_sweep(path)
    study = open_study(spec)
    for curve in ({2: 1.4, 4: 1.2}, {2: 1.6, 4: 1.4}):
        trial = study.ask(distributions(spec))
        for step, value in curve.items():
            trial.report(value, step)
        study.tell(trial, curve[4])
    return spec, study


def test_the_median_pruners_reason_names_the_step_the_value_and_the_median(studio_home, tmp_path):
    spec, study = _study(tmp_path, pruner="median")
    assert why_pruned(spec, study, {2: 1.7, 4: 1.52}, 4) == (
        "pruned by the sweep at step 4: eval_loss 1.52 above the median of earlier trials at that step, 1.3")
    # The pruner judges the trial's best point so far: a later, worse point is not what was compared.
    assert why_pruned(spec, study, {2: 1.45, 4: 1.6}, 4) == (
        "pruned by the sweep at step 4: eval_loss 1.45 (its best so far) above the median of earlier trials at "
        "that step, 1.3")
    assert why_pruned(spec, study, {2: float("nan")}, 2) == (
        "pruned by the sweep at step 2: eval_loss is not a number (the run diverged)")
    assert why_pruned(spec, study, {6: 2.0}, 6) == "pruned by the sweep at step 6 (eval_loss 2)"  # none got there
    assert why_pruned(spec, study, {}, 6) == "pruned by the sweep at step 6"


def test_ashas_reason_says_the_trial_was_not_among_the_best_of_its_rung(studio_home, tmp_path):
    spec, study = _study(tmp_path, pruner="asha")
    assert why_pruned(spec, study, {2: 1.9}, 2) == (
        "pruned by the sweep at step 2: eval_loss 1.9 not among the best 1/4 of the trials that got this far")
