"""Live tokens/s and ETA on recorded step times: a compile warm-up, jitter, a pause, an eval.

The run is what issue 18 saw: a first step of 90 s (torch.compile), then ~70 ms steps
of ~800 real tokens. The live numbers must agree with the run's real averages within
10% once ten steady steps are in, and the closing average must be exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from studio.core.throughput import Throughput

TOTAL = 400
PAUSE_AT, PAUSE_S = 150, 60.0  # a user's pause, held at this step's end
EVAL_AT, EVAL_S = 250, 4.0  # a periodic eval, run after this step
SAVE_S = 1.5  # the final checkpoint, inside training's wall time


@dataclass
class Recorded:
    durations: list[float]  # each step's own time (index 0: step 1)
    tokens: list[int]
    logs: list[tuple[int, float | None, float | None]] = field(default_factory=list)  # step, tok/s, eta
    meter: Throughput = field(default_factory=Throughput)

    @property
    def steady_step_s(self) -> float:
        return sum(self.durations[1:]) / (TOTAL - 1)

    @property
    def steady_tokens_per_s(self) -> float:
        return sum(self.tokens[1:]) / sum(self.durations[1:])


def recorded_run(logging_steps: int, seed: int = 18) -> Recorded:
    """Feeds a Throughput the way engine.callbacks does, on a simulated clock."""
    rng = random.Random(seed)
    durations = [90.0] + [0.07 * rng.uniform(0.9, 1.1) for _ in range(TOTAL - 1)]
    tokens = [rng.randint(700, 900) for _ in range(TOTAL)]
    run = Recorded(durations, tokens)
    clock, seen = 1000.0, 0
    run.meter.start(0, clock, 0)
    for step in range(1, TOTAL + 1):
        clock += durations[step - 1]
        seen += tokens[step - 1]
        if step == PAUSE_AT:
            clock += PAUSE_S
            run.meter.pause(PAUSE_S)
        if step % logging_steps == 0 or step == TOTAL:
            run.meter.record(step, clock, seen)
            run.logs.append((step, run.meter.tokens_per_s(), run.meter.eta_s(TOTAL)))
        if step == EVAL_AT:
            clock += EVAL_S
            run.meter.interrupt()
    run.meter.finish(clock + SAVE_S, seen)
    return run


@pytest.mark.parametrize("logging_steps", [1, 5])
def test_live_numbers_agree_with_the_real_averages_after_ten_steady_steps(logging_steps):
    run = recorded_run(logging_steps)
    checked = 0
    for step, tokens_per_s, eta in run.logs:
        if step < logging_steps + 10:  # the warm-up interval, then ten steady steps
            continue
        assert tokens_per_s == pytest.approx(run.steady_tokens_per_s, rel=0.10), step
        left = TOTAL - step
        assert eta == pytest.approx(left * run.steady_step_s, rel=0.10, abs=1e-9), step
        if left >= 20:  # the steps still to come really take about that long
            assert eta == pytest.approx(sum(run.durations[step:]), rel=0.10), step
        checked += 1
    assert checked >= (TOTAL - 10) // logging_steps - 2


def test_the_warm_up_gives_no_eta_and_its_own_slow_rate():
    run = recorded_run(1)
    step, tokens_per_s, eta = run.logs[0]
    assert step == 1 and eta is None  # a 90 s step says nothing about the 399 to come
    assert tokens_per_s == pytest.approx(run.tokens[0] / 90.0)
    # The very next step already has the steady pace: not 90 s x 398 (the 304 s).
    assert run.logs[1][2] == pytest.approx(398 * run.durations[1])


def test_the_pause_and_the_eval_do_not_move_the_live_numbers():
    run = recorded_run(1)
    by_step = {step: (rate, eta) for step, rate, eta in run.logs}
    for step in (PAUSE_AT, EVAL_AT + 1):  # the intervals that held the pause and the eval
        rate, eta = by_step[step]
        assert rate == pytest.approx(run.steady_tokens_per_s, rel=0.10)
        assert eta == pytest.approx((TOTAL - step) * run.steady_step_s, rel=0.10)


def test_the_run_average_is_exact():
    run = recorded_run(1)
    train_seconds = sum(run.durations) + EVAL_S + SAVE_S  # warm-up, eval and save in; the pause out
    assert run.meter.train_seconds == pytest.approx(train_seconds, rel=1e-12)
    assert run.meter.trained_tokens == sum(run.tokens)
    assert run.meter.average_tokens_per_s() == pytest.approx(sum(run.tokens) / train_seconds, rel=1e-12)
    # The issue's complaint: the last steps' rate is not the run's average (~4.5x it here).
    assert run.logs[-1][1] > 3 * run.meter.average_tokens_per_s()


def test_a_recompile_later_on_is_left_out():
    meter, clock = Throughput(), 0.0
    meter.start(0, clock)
    for step, seconds in enumerate([60.0, 0.1, 20.0, 0.1, 0.1, 0.1], start=1):  # step 3 recompiles
        clock += seconds
        meter.record(step, clock, 100 * step)
    assert meter.eta_s(10) == pytest.approx(0.4)
    assert meter.tokens_per_s() == pytest.approx(1000.0)


def test_when_every_interval_is_interrupted_they_all_count():
    meter, clock = Throughput(), 0.0
    meter.start(0, clock)
    for step in range(1, 6):  # a sample in every logged interval: part of the pace
        clock += 1.0
        meter.interrupt()
        meter.record(step, clock, 500 * step)
    assert meter.tokens_per_s() == pytest.approx(500.0)
    assert meter.eta_s(10) == pytest.approx(5.0)


def test_a_resumed_run_counts_only_its_own_tokens_and_time():
    meter = Throughput()
    meter.start(100, 50.0, tokens=80_000)  # the checkpoint's count, carried over
    meter.record(101, 60.0, 80_800)
    meter.record(102, 61.0, 81_600)
    meter.finish(61.0)
    assert meter.trained_tokens == 1_600 and meter.train_seconds == pytest.approx(11.0)
    assert meter.eta_s(110) == pytest.approx(8.0)
    assert meter.eta_s(102) == 0.0


def test_nothing_recorded_means_no_numbers():
    meter = Throughput()
    assert meter.tokens_per_s() is None and meter.eta_s(10) is None
    assert meter.train_seconds is None and meter.average_tokens_per_s() is None


def test_a_pause_early_in_a_short_run_never_enters_the_rate():
    """Issue 21's run: 40 steps of ~2 s and 800 tokens, paused 60 s at step 10's end. The rate
    logged right after the pause (and every later one) is the steps' own, not ~10 tokens/s."""
    meter, clock = Throughput(), 0.0
    meter.start(0, clock)
    rates = {}
    for step in range(1, 41):
        clock += 2.0
        if step == 10:
            clock += 60.0
            meter.pause(60.0)
        meter.record(step, clock, 800 * step)
        rates[step] = meter.tokens_per_s()
    assert all(rate == pytest.approx(400.0) for rate in rates.values()), rates
    assert meter.eta_s(40) == 0.0 and meter.train_seconds == pytest.approx(80.0)


def test_a_counted_phase_eta_follows_its_pace():
    from studio.core.throughput import progress_eta_s

    assert progress_eta_s(3, 9, 30.0) == pytest.approx(60.0)  # 10 s a batch, six left
    assert progress_eta_s(9, 9, 90.0) == 0.0
    assert progress_eta_s(0, 9, 5.0) is None  # no batch done: no pace yet
    assert progress_eta_s(3, 0, 5.0) is None  # no total: unknown
