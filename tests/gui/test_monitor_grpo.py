"""The Monitor shows what a GRPO run learns, from the events its worker writes: the mean reward (the
total and one line per reward function), its spread, the answers' length, KL when sent, and the latest
sampled answers with their scores; no perplexity. An SFT run shows none of it. Run folders are written
with studio.core.protocol and followed by the real follower, or replayed as the Runs page opens them."""

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
from studio.gui.widgets.run_view import RunView

STEPS = 8
LABELS = ("numeric_match", "answer_tags", "file:my_reward.py")


@pytest.fixture
def page(monitor_page):
    return monitor_page


def grpo_numbers(step: int, kl: bool = True) -> dict[str, float]:
    """TRL's numbers for one GRPO step whose rewards climb."""
    means = {"numeric_match": 0.1 * step, "answer_tags": 0.5 + 0.05 * step, "file:my_reward.py": -0.02 * step}
    numbers = {"reward": sum(means.values()), "reward_std": 0.4 - 0.01 * step, "completions/mean_length": 40.0 + step,
               "completions/clipped_ratio": 0.0, "entropy": 0.9, "frac_reward_zero_std": 0.25}
    for label, mean in means.items():
        numbers[f"rewards/{label}/mean"] = mean
        numbers[f"rewards/{label}/std"] = 0.1
    if kl:
        numbers["kl"] = 0.001 * step
    return numbers


def completions(step: int) -> protocol.Completions:
    return protocol.Completions(step=step, samples=[
        {"prompt": "What is 2 + 3?", "completion": f"<answer>5</answer> (step {step})",
         "rewards": {"numeric_match": 1.0, "answer_tags": 1.0, "file:my_reward.py": None}, "total": 2.0},
        {"prompt": "What is 7 * 6?", "completion": f"It is 42, said step {step}",
         "rewards": {"numeric_match": 1.0, "answer_tags": 0.0, "file:my_reward.py": None}, "total": 1.0}])


def grpo_run(stage: str = "grpo", kl: bool = True, job: bool = True) -> Path:
    """A run folder as a GRPO worker leaves it (an SFT one's steps carry no GRPO numbers)."""
    run_dir = runs.create_run_dir(stage)
    if job:
        (run_dir / runs.JOB_NAME).write_text(json.dumps({"kind": "train", "training": {"stage": stage}}))
    grpo = stage == "grpo"
    events: list[protocol.Event] = [protocol.Hello(pid=4242), protocol.Phase("training", done=0, total=STEPS)]
    for step in range(1, STEPS + 1):
        events.append(protocol.Step(step=step, total_steps=STEPS, epoch=step / STEPS, loss=0.01 * step, lr=1e-5,
                                    preference=grpo_numbers(step, kl) if grpo else None))
        if grpo and step % 4 == 0:
            events.append(completions(step))
    events.append(protocol.Eval(step=STEPS, eval_loss=0.05, perplexity=None if grpo else math.exp(0.05),
                                preference={"reward": 1.5, "completions/mean_length": 44.0} if grpo else None))
    events.append(protocol.Done(outputs={"adapter_path": str(run_dir / "adapter"), "metrics": {
        "train_loss": 0.04, "eval_loss": 0.05, "perplexity": math.exp(0.05), "steps": STEPS,
        "preference": {"reward": 1.3, "eval_reward": 1.5} if grpo else None}}))
    with open(run_dir / runs.EVENTS_NAME, "w", encoding="utf-8") as handle:
        handle.writelines(protocol.encode(event) for event in events)
    return run_dir


def followed(qtbot, page: MonitorPage, run_dir: Path):
    page.follow(run_dir)
    qtbot.waitUntil(lambda: page.follower is not None and page.follower.done, timeout=5000)
    page.view.charts.redraw()
    return page.view.charts


def assert_grpo_shown(view: RunView) -> None:
    charts = view.charts
    assert charts.grpo_mode() and not charts.preference_mode()
    reward = charts.reward
    drawn = {name for name in reward.curves if reward.point_count(name)}
    assert drawn == {"reward", "eval_reward", *(f"reward:{label}" for label in LABELS)}
    last = grpo_numbers(STEPS)
    for label in LABELS:
        assert reward.point_count(f"reward:{label}") == STEPS
        assert reward.curves[f"reward:{label}"].yData[-1] == pytest.approx(last[f"rewards/{label}/mean"])
    assert reward.curves["reward"].yData[-1] == pytest.approx(last["reward"])
    assert reward.value_label.text() == f"{last['reward']:.3f}"
    assert charts.length.curves["mean_length"].yData[-1] == 40.0 + STEPS
    assert charts.length.value_label.text() == f"{40 + STEPS} tokens"
    assert charts.reward_std.point_count("reward_std") == STEPS
    assert charts.loss.title_label.text() == "Loss"
    assert not any(chart.isVisible() for chart in charts.preference_charts)
    shown = view.completions.text()
    assert view.completions.step == STEPS and view.completions_box.isVisible()
    assert not view.samples_box.isVisible()  # a GRPO run sends no samples: its answers take their place
    assert f"It is 42, said step {STEPS}" in shown and "(step 4)" not in shown  # the latest event only
    assert "numeric_match 1.00 · answer_tags 0.00 · file:my_reward.py failed · total 1.00" in shown
    assert "perplexity" not in view.banner.text() and "eval reward 1.500" in view.banner.text()


def test_a_followed_grpo_run_charts_its_rewards_length_kl_and_answers(qtbot, page):
    charts = followed(qtbot, page, grpo_run())
    assert_grpo_shown(page.view)
    assert charts.kl.isVisible() and charts.kl.curves["kl"].yData[-1] == pytest.approx(0.001 * STEPS)
    assert not charts.tokens.isVisible()  # KL takes its place


def test_a_finished_grpo_run_replayed_from_its_events_shows_the_same(qtbot):
    view = RunView()
    qtbot.addWidget(view)
    view.resize(1100, 760)
    view.show()
    view.replay_file(grpo_run())
    qtbot.waitUntil(lambda: not view._replay_timer.isActive(), timeout=5000)
    view.charts.redraw()
    assert_grpo_shown(view)


def test_without_kl_there_is_no_kl_chart(qtbot, page):
    charts = followed(qtbot, page, grpo_run(kl=False))
    assert charts.grpo_mode() and not charts.kl.isVisible() and charts.tokens.isVisible()


def test_grpo_numbers_alone_say_what_the_run_was(qtbot, page):
    """job.json lost: the steps' numbers and the completions events still lay the run out."""
    charts = followed(qtbot, page, grpo_run(job=False))
    assert charts.grpo_mode() and charts.reward.isVisible() and page.view.completions_box.isVisible()


def test_an_sft_run_shows_none_of_it(qtbot, page):
    charts = followed(qtbot, page, grpo_run("sft"))
    assert not charts.grpo_mode()
    assert not any(chart.isVisible() for chart in charts.grpo_charts)
    assert not page.view.completions_box.isVisible() and page.view.completions.step is None
    assert page.view.samples_box.isVisible()
    assert charts.loss.title_label.text() == "Loss" and "perplexity 1.05" in page.view.banner.text()


def test_a_grpo_run_fits_the_smallest_window(qtbot, window):
    window.resize(960, 640)
    window.show_page("Monitor")
    page = window.monitor_page
    charts = followed(qtbot, page, grpo_run())
    qtbot.wait(50)
    shown = [chart for chart in charts.findChildren(MetricChart) if chart.isVisible()]
    assert len(shown) == 9  # loss, reward, spread, length, KL, lr, grad norm, CPU, RSS
    for index, chart in enumerate(shown):
        assert chart.height() >= chart.minimumHeight(), chart.title_label.text()
        for other in shown[index + 1:]:
            assert not chart.geometry().intersects(other.geometry()), (chart.title_label.text(),
                                                                       other.title_label.text())
    assert page.view.completions.width() > 150 and page.view.completions.height() > 40
    for chart in shown:  # each title beside its value (a 1-column "GRPO loss  smoothed 0.0800" overlapped)
        title, value = chart.title_label, chart.value_label
        needed = title.fontMetrics().horizontalAdvance(title.text()) + value.fontMetrics().horizontalAdvance(
            re.sub(r"<[^>]+>", "", value.text()))
        assert needed + 20 <= chart.width(), f"{title.text()} {value.text()}: {needed} px in {chart.width()}"
    legend = charts.reward.legend  # too narrow for one row: hidden, the tooltip names the lines
    assert not legend.isVisible() and all(label in charts.reward.toolTip() for label in ("total", *LABELS))
    window.resize(1700, 900)
    qtbot.waitUntil(legend.isVisible)  # wide enough: one row across the top, not a column over the curves
    assert legend.layout.rowCount() == 1 and legend.boundingRect().width() <= charts.reward.width()


def test_nonsense_grpo_numbers_are_skipped_and_preference_charts_stay_off():
    data = RunData()
    data.add([protocol.Step(step=1, total_steps=2, epoch=0.5, loss=0.1, lr=1e-5,
                            preference={"reward": float("nan"), "rewards/numeric_match/mean": 0.5,
                                        "rewards//mean": 1.0, "kl": True, "completions/mean_length": "long"})])
    assert data.grpo_seen and not data.preference_seen and data.reward_labels == ["numeric_match"]
    assert len(data.get("reward")) == 0 and len(data.get("kl")) == 0 and len(data.get("mean_length")) == 0
    assert data.series["reward:numeric_match"].last_y() == 0.5
