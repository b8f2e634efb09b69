"""The Monitor charts a preference run (issue 23) from the events a worker writes: reward margin,
pairs ranked right, chosen vs rejected rewards; an SFT run looks as it did; no perplexity for a
preference loss. Run folders are written with studio.core.protocol, followed by the real follower."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from studio.core import protocol, runs
from studio.gui.pages.monitor_page import MonitorPage
from studio.gui.widgets.metric_chart import MetricChart
from studio.gui.widgets.run_data import RunData
from studio.gui.widgets.run_view import format_metrics

STEPS = 12


@pytest.fixture
def page(monitor_page):
    return monitor_page


def pair_numbers(step: int, accuracies: bool = True) -> dict[str, float]:
    """TRL's numbers for one step of a DPO run learning its pairs."""
    chosen, rejected = 0.05 * step, -0.04 * step
    numbers = {"rewards/chosen": chosen, "rewards/rejected": rejected, "rewards/margins": chosen - rejected,
               "logps/chosen": -40.0 + step, "logps/rejected": -42.0 - step}
    if accuracies:  # KTO reports none
        numbers["rewards/accuracies"] = min(1.0, 0.5 + step / (2 * STEPS))
    return numbers


def preference_run(stage: str = "dpo", steps: int = STEPS, done: bool = True, accuracies: bool = True) -> Path:
    """A run folder as a preference worker leaves it: job.json, steps and an evaluation with their
    preference numbers, and a done event whose metrics carry the last ones (an SFT run's steps carry none)."""
    run_dir = runs.create_run_dir(stage)
    (run_dir / runs.JOB_NAME).write_text(json.dumps({"kind": "train", "training": {"stage": stage}}))
    events: list[protocol.Event] = [protocol.Hello(pid=4242), protocol.Phase("training", done=0, total=steps)]
    for step in range(1, steps + 1):
        loss = math.log(2) - 0.03 * step
        events.append(protocol.Step(step=step, total_steps=steps, epoch=step / steps, loss=loss, lr=1e-3,
                                    preference=pair_numbers(step, accuracies) if stage != "sft" else None))
    held_out = {"rewards/margins": 0.8, "rewards/chosen": 0.5, "rewards/rejected": -0.3,
                **({"rewards/accuracies": 0.875} if accuracies else {})} if stage != "sft" else {}
    events.append(protocol.Eval(step=steps, eval_loss=0.4, perplexity=math.exp(0.4), preference=held_out or None))
    if done:
        events.append(protocol.Done(outputs={"adapter_path": str(run_dir / "adapter"), "metrics": {
            "train_loss": 0.33, "eval_loss": 0.4, "perplexity": math.exp(0.4), "steps": steps,
            "preference": {"rewards/margins": 1.08, **{f"eval_{k}": v for k, v in held_out.items()}}
            if held_out else None}}))
    with open(run_dir / runs.EVENTS_NAME, "w", encoding="utf-8") as handle:
        handle.writelines(protocol.encode(event) for event in events)
    return run_dir


def plain(text: str) -> str:
    """A label's words without their colours."""
    return re.sub(r"<[^>]+>", "", text)


def followed(qtbot, page: MonitorPage, run_dir: Path):
    page.follow(run_dir)
    qtbot.waitUntil(lambda: page.follower is not None and page.follower.done, timeout=5000)
    charts = page.view.charts
    charts.redraw()
    return charts


def grid_span(charts, chart) -> tuple[int, int, int, int]:
    return charts.grid.getItemPosition(charts.grid.indexOf(chart))


def test_a_dpo_run_charts_its_margin_accuracy_and_rewards(qtbot, page):
    charts = followed(qtbot, page, preference_run())
    assert charts.preference_mode()
    assert all(chart.isVisible() for chart in (charts.margin, charts.accuracy, charts.rewards))
    assert grid_span(charts, charts.loss) == (0, 0, 1, 2)  # one row: the preference charts beside it
    assert charts.margin.point_count("margin") == STEPS == charts.margin.point_count("margin_ema")
    assert charts.rewards.point_count("chosen") == STEPS == charts.rewards.point_count("rejected")
    for chart, name in ((charts.margin, "eval_margin"), (charts.accuracy, "eval_accuracy"),
                        (charts.rewards, "eval_chosen"), (charts.rewards, "eval_rejected")):
        assert chart.point_count(name) == 1, name
    series = charts.data.series
    assert series["accuracy"].last_y() == 100.0 and series["eval_accuracy"].last_y() == 87.5  # in %
    assert series["eval_margin"].view()[0].tolist() == [STEPS]
    assert charts.loss.title_label.text() == "DPO loss"
    assert charts.margin.value_label.text() == f"{series['margin_ema'].last_y():.3f}"
    assert plain(charts.rewards.value_label.text()) == f"{0.05 * STEPS:.2f} / {-0.04 * STEPS:.2f}"
    assert charts.loss.legend is not None and not charts.loss.legend.isVisible()  # it would cover a one-row chart

    banner = page.view.banner.text()
    assert "eval reward margin 0.800" in banner and "eval pairs ranked right 88 %" in banner
    assert "perplexity" not in banner  # exp of a preference loss means nothing


def test_an_sft_run_looks_as_it_did(qtbot, page):
    run_dir = runs.create_run_dir("sft")
    (run_dir / runs.JOB_NAME).write_text(json.dumps({"kind": "train", "training": {"stage": "sft"}}))
    lines = [protocol.Hello(pid=4242), *(protocol.Step(step=i, total_steps=4, epoch=i / 4, loss=2.0 / i, lr=1e-3)
                                         for i in range(1, 5)),
             protocol.Eval(step=4, eval_loss=0.6, perplexity=math.exp(0.6)),
             protocol.Done(outputs={"adapter_path": "/x/adapter", "metrics": {"eval_loss": 0.6,
                                                                              "perplexity": math.exp(0.6)}})]
    (run_dir / runs.EVENTS_NAME).write_text("".join(protocol.encode(event) for event in lines))
    charts = followed(qtbot, page, run_dir)
    assert not charts.preference_mode()
    assert not any(chart.isVisible() for chart in (charts.margin, charts.accuracy, charts.rewards))
    assert grid_span(charts, charts.loss) == (0, 0, 2, 2)
    assert charts.loss.title_label.text() == "Loss" and charts.loss.legend.isVisible()
    assert "perplexity 1.82" in page.view.banner.text()


def test_a_preference_run_is_laid_out_from_its_job_before_its_first_step(qtbot, page):
    run_dir = preference_run(steps=0, done=False)
    page.follow(run_dir)
    qtbot.waitUntil(lambda: page.view.hello is not None, timeout=5000)
    assert page.view.charts.preference_mode() and page.view.charts.margin.isVisible()
    page._drop_follower()


def test_steps_with_preference_numbers_switch_the_charts_without_a_job(qtbot, page):
    """An events file alone (job.json lost) still says what the run was."""
    run_dir = preference_run()
    (run_dir / runs.JOB_NAME).unlink()
    charts = followed(qtbot, page, run_dir)
    assert charts.preference_mode() and charts.margin.point_count("margin") == STEPS
    assert charts.loss.title_label.text() == "Loss"  # the stage itself is unknown
    assert "perplexity" not in page.view.banner.text()  # the done event's preference numbers say enough


def test_kto_has_no_accuracy_and_says_so(qtbot, page):
    charts = followed(qtbot, page, preference_run("kto", accuracies=False))
    assert charts.loss.title_label.text() == "KTO loss"
    assert charts.accuracy.point_count("accuracy") == 0 and charts.accuracy.value_label.text() == "none"
    assert charts.margin.point_count("margin") == STEPS
    assert "pairs ranked right" not in page.view.banner.text() and "eval reward margin" in page.view.banner.text()


@pytest.mark.parametrize("stage", ["dpo", "sft"])
def test_the_charts_fit_the_smallest_window(qtbot, window, stage):
    window.resize(960, 640)
    window.show_page("Monitor")
    page = window.monitor_page
    charts = followed(qtbot, page, preference_run(stage))
    qtbot.wait(50)
    for chart in (charts.loss, charts.margin, charts.accuracy, charts.rewards)[:4 if stage == "dpo" else 1]:
        title, value = chart.title_label, chart.value_label
        widest = "100 %" if chart is charts.accuracy else plain(value.text())  # its widest value, not this run's
        needed = title.fontMetrics().horizontalAdvance(title.text()) + value.fontMetrics().horizontalAdvance(widest)
        assert needed + 20 <= chart.width(), f"{title.text()} {value.text()}: {needed} px in {chart.width()}"
    shown = [chart for chart in charts.findChildren(MetricChart) if chart.isVisible()]
    assert len(shown) == 9 if stage == "dpo" else 6  # loss, [margin, accuracy, rewards], lr, grad norm, tokens/s, CPU, RSS
    for index, chart in enumerate(shown):  # squeezed below their minimum, the rows overlapped
        assert chart.height() >= chart.minimumHeight(), chart.title_label.text()
        for other in shown[index + 1:]:
            assert not chart.geometry().intersects(other.geometry()), (chart.title_label.text(),
                                                                       other.title_label.text())


def test_nonsense_preference_numbers_are_skipped_not_charted():
    data = RunData()
    data.add([protocol.Step(step=1, total_steps=2, epoch=0.5, loss=0.7, lr=1e-3,
                            preference={"rewards/margins": float("nan"), "rewards/accuracies": True,
                                        "rewards/chosen": "high", "rewards/rejected": -0.1}),
              protocol.Step(step=2, total_steps=2, epoch=1.0, loss=0.6, lr=1e-3, preference=["not", "a", "dict"])])
    assert len(data.series["margin"]) == len(data.series["accuracy"]) == len(data.series["chosen"]) == 0
    assert data.series["rejected"].last_y() == -0.1 and data.preference_seen
    assert len(data.series["loss"]) == 2


def test_the_finished_line_of_a_preference_run_has_no_perplexity():
    from studio.core.outputs import TrainMetrics

    metrics = TrainMetrics(train_loss=0.3, eval_loss=0.4, perplexity=1.49, steps=6,
                           preference={"rewards/margins": 1.5, "rewards/accuracies": 0.75})
    text = format_metrics(metrics, "dpo")
    assert "perplexity" not in text and "reward margin 1.500" in text and "pairs ranked right 75 %" in text
    assert "perplexity 1.49" in format_metrics(TrainMetrics(eval_loss=0.4, perplexity=1.49))
