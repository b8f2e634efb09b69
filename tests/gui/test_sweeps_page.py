"""The Sweeps page: a study's trials, the best, the objective chart; a bad sweep file refused
with its problems before anything starts (tests/worker/test_sweep.py runs real sweeps)."""

from __future__ import annotations

import json

import pytest
from tiny_jobs import tiny_job_dict

from studio.core.sweeps.spec import load_sweep
from studio.core.sweeps.study import distributions, open_study
from studio.gui.pages.sweeps_page import COLUMNS, SweepsPage


@pytest.fixture
def page(qtbot, state):
    widget = SweepsPage(state)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    return widget


def _sweep_file(tmp_path, **fields):
    data = {"kind": "sweep", "name": "lr", "sampler": "grid", "base": tiny_job_dict("tiny", training={"eval_steps": 2}),
            "space": {"training.learning_rate": [1e-3, 2e-3, 5e-3]}, **fields}
    path = tmp_path / "lr.json"
    path.write_text(json.dumps(data))
    return path


def test_no_sweeps_says_how_to_start_one(page):
    page.refresh(background=False)
    assert "No sweeps yet" in page.summary.text() and not page.best_button.isEnabled()


def test_a_study_shows_its_trials_the_best_and_the_chart(page, tmp_path):
    spec = load_sweep(_sweep_file(tmp_path))
    study = open_study(spec)
    for value in (2.5, 1.5):
        trial = study.ask(distributions(spec))
        trial.report(value + 0.5, 2)
        study.tell(trial, value)
    running = study.ask(distributions(spec))
    running.report(3.0, 2)
    page.refresh(background=False)
    assert [page.names.item(i).text() for i in range(page.names.count())] == ["lr"]
    states = [page.table.item(r, COLUMNS.index("State")).text() for r in range(page.table.rowCount())]
    assert states == ["complete", "complete", "running"]
    assert page.table.item(1, 0).text() == "1 ★"  # the best
    assert page.table.item(2, COLUMNS.index("Objective")).text() == "3.0000 at step 2"
    assert "3 of 3 trials (2 complete, 1 running)" in page.summary.text() and "trial 1, eval_loss 1.5000" in \
        page.summary.text()
    assert list(page.chart.curves["best"].getData()[1]) == [2.5, 1.5]
    assert page.best_button.isEnabled()


def test_a_bad_sweep_file_is_refused_with_its_problems_and_starts_nothing(page, tmp_path, studio_home):
    bad = _sweep_file(tmp_path, space={"training.learning_rte": [1e-3]})
    assert not page.run_file(bad)
    assert "is not a train job field" in page.message.text()
    assert not (studio_home / "sweeps" / "lr").exists()
