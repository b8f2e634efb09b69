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


def _finished_study(tmp_path, values=(1.74, 1.25)):
    rates = [1e-4 * (n + 1) for n in range(len(values) + 1)]  # one left over: a finished grid stops the study
    spec = load_sweep(_sweep_file(tmp_path, space={"training.learning_rate": rates}))
    study = open_study(spec)
    for value in values:
        trial = study.ask(distributions(spec))
        study.tell(trial, value)
    return study


def test_at_960x640_the_trials_table_shows_every_column_and_the_chart_sits_under_it(qtbot, state, tmp_path):
    """Beside the chart, the table was too narrow at the minimum window size: Run / note was cut
    off behind a horizontal scroll bar; and six trials fit above the chart without scrolling."""
    _finished_study(tmp_path, values=(1.74, 1.25, 1.5, 1.3, 1.6, 1.2))
    page = SweepsPage(state)
    qtbot.addWidget(page)
    page.resize(792, 640)  # the page's share of a 960x640 window beside the navigation
    page.show()
    page.refresh(background=False)
    qtbot.waitExposed(page)
    table = page.table
    assert not table.horizontalScrollBar().isVisible() and not table.verticalScrollBar().isVisible()
    last = table.horizontalHeader()
    assert last.sectionViewportPosition(len(COLUMNS) - 1) + 40 <= table.viewport().width()
    chart_top = page.chart.mapTo(page, page.chart.rect().topLeft()).y()
    assert chart_top >= table.mapTo(page, table.rect().bottomLeft()).y()  # under the table


def test_the_chart_frames_the_points_clear_of_the_axis_and_the_legend(page, tmp_path):
    """Trial 0 sat on the y axis (half drawn), and the legend's column covered the highest point."""
    _finished_study(tmp_path)
    page.refresh(background=False)
    (x_low, x_high), (y_low, y_high) = page.chart.getPlotItem().getViewBox().viewRange()
    assert x_low < 0 and x_high > 1
    assert y_low < 1.25 and y_high > 1.74 + 0.3 * (1.74 - 1.25)  # room above the top point for the legend's row
    assert page.chart.legend.columnCount == 2  # one row across the top


def test_a_sweep_started_while_the_queue_is_paused_says_its_trials_wait(page, tmp_path, monkeypatch):
    from studio.core.queue.store import QueueStore
    from studio.gui import run_launcher

    started = []
    monkeypatch.setattr(run_launcher, "start_sweep", started.append)
    with QueueStore() as store:
        store.set_paused(True, "paused by hand")
    assert page.run_file(_sweep_file(tmp_path))
    assert started and "The queue is paused" in page.message.text()


def test_choosing_another_sweep_clears_the_last_sweeps_message(page, tmp_path):
    _finished_study(tmp_path)
    page.refresh(background=False)
    page.message.setText("Started the sweep lr: 3 trials through the queue.")
    page.names.addItem("other")  # as a second sweep appears in the list
    page.names.setCurrentRow(1)
    assert page.message.text() == ""
