"""A sweep that optimises an eval job's metric, with real workers: each trained trial's adapter is
scored by an eval job through the queue, the trial is told that job's ROUGE-L, and the highest is
filed. The driver is replaced by a fresh one every few seconds, as after kills: no eval job is
queued twice and no trial is lost."""

from __future__ import annotations

import json
import time
from pathlib import Path

import optuna
import pytest
from sweep_helpers import end_runner, sweep_file

from studio.core import runs
from studio.core.library import Library
from studio.core.queue.store import QueueStore
from studio.core.sweeps.driver import SweepDriver
from studio.core.sweeps.spec import load_sweep
from studio.core.sweeps.study import read_study, storage

pytestmark = pytest.mark.integration


def test_an_eval_job_objective_scores_each_trial_by_its_eval_run(tiny_model_dir, tmp_path):
    path = sweep_file(tmp_path, tiny_model_dir, "rouge", {"lora.r": [4, 8]}, steps=6, objective="eval:rouge_l",
                      eval={"generate_rows": 2, "max_new_tokens": 8, "split": "all"})
    spec = load_sweep(path)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            SweepDriver(spec, poll_s=0.2).run(max_s=3)  # ends mid-sweep: the next one takes over
            study = optuna.load_study(study_name="rouge", storage=storage("rouge"))
            if len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 2:
                break
        SweepDriver(spec, poll_s=0.2).run()  # nothing left to run: files the best
    finally:
        end_runner()

    view = read_study("rouge")
    assert (view.direction, view.objective_label) == ("maximize", "ROUGE-L (eval job)")
    assert [t.state for t in view.trials] == ["complete", "complete"], [t.note for t in view.trials]
    for trial in view.trials:
        scored = runs.summarize(Path(trial.eval_run_dir))
        assert (scored.kind, scored.status) == ("eval", "done")
        job = json.loads((Path(trial.eval_run_dir) / runs.JOB_NAME).read_text())
        assert job["adapters"] == [str(Path(trial.run_dir) / runs.ADAPTER_NAME)]  # this trial's adapter
        result = scored.outputs["results"][-1]
        assert result["answered"] == 2 and trial.value == pytest.approx(result["rouge_l"])
    with QueueStore() as store:  # one train and one eval job per trial, however many drivers came
        assert sorted(e.source for e in store.entries()) == [
            "sweep rouge trial 0", "sweep rouge trial 0 eval", "sweep rouge trial 1", "sweep rouge trial 1 eval"]
    best = max(view.trials, key=lambda t: t.value or 0.0)
    assert view.best is not None and view.best.number == best.number and view.best_ref == "rouge/v1"
    with Library() as library:
        card = library.card("rouge/v1")
    assert card is not None and card.sweep["trial"] == best.number
    assert (card.sweep["objective"], card.sweep["direction"]) == ("eval:rouge_l", "maximize")
