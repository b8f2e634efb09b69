"""Live tokens/s, the ETA and the run's average: the one place that computes them.

Each number users read used to be computed its own way, and each misled: a rate since
the last log (noise), an ETA from the run's mean step (a 90 s compile warm-up spread
over every step left), a closing line that was the last step's rate. The rules:

* live tokens/s = real (non-padding) tokens over the wall time of the recent steady
  steps: a sliding window of the last ten logged intervals, stretched to at least
  ten seconds when steps are short (ten 70 ms steps of varied rows are noise);
* ETA = the recent steady time per step x the steps left. Not steady: the first
  interval of a session (compile, CUDA and dataloader start-up), any interval in
  which a pause, eval, checkpoint or sample happened, and any interval whose steps
  took far longer than the window's median (a recompile). Periodic evals and
  checkpoints still to come are not in it;
* a pause is never training time;
* the run's average = every real token trained over the training wall time (the
  warm-up, evals and checkpoints in it, pauses not): what the user waited for;
* a phase counted in parts (an evaluation's batches): its ETA is the time per part so
  far x the parts left (``progress_eta_s``), unknown until one part is done.

Pure Python, fed by the engine's callback, so it is tested on recorded step times.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """The steps between two logged steps: their count, wall time (pauses taken out), tokens."""
    steps: int
    seconds: float
    tokens: int
    interrupted: bool  # a pause, eval, checkpoint or sample happened during it

    @property
    def step_s(self) -> float:
        return self.seconds / self.steps


class Throughput:
    """Fed ``(step, time, tokens so far)`` at each logged step, plus the pauses and
    interruptions between them; answers the live tokens/s, the ETA and the run's average.

    The live numbers average the last ``window`` logged intervals, more while they
    span less than ``window_s`` seconds (at most ``longest`` intervals): enough to
    smooth step jitter, short enough to follow a real change of speed within seconds.
    ``outlier``: an interval whose time per step exceeds this many times the window's
    median is left out (three: far above jitter, far below a recompile).
    """

    def __init__(self, window: int = 10, window_s: float = 10.0, longest: int = 200, outlier: float = 3.0):
        self.window, self.window_s, self.outlier = window, window_s, outlier
        self.recent: deque[Interval] = deque(maxlen=longest)  # the warm-up interval never enters
        self.last: Interval | None = None
        self.started_t: float | None = None
        self.ended_t: float | None = None
        self.first_tokens = 0
        self.step = 0
        self.t = 0.0
        self.tokens = 0
        self.paused_s = 0.0  # the whole run's, never training time
        self._open_paused_s = 0.0  # the open interval's share of it
        self._open_interrupted = False
        self._steady: list[Interval] | None = None  # steady()'s answer until the next record

    def start(self, step: int, now: float, tokens: int = 0) -> None:
        """Training begins (or resumes from a checkpoint) at ``step``; ``tokens`` is the
        counter's value then, so a count carried over from a checkpoint is not this run's."""
        self.started_t, self.ended_t = now, None
        self.step, self.t, self.tokens, self.first_tokens = step, now, tokens, tokens
        self.recent.clear()
        self.last = None
        self._steady = None
        self.paused_s = self._open_paused_s = 0.0
        self._open_interrupted = False

    def pause(self, seconds: float) -> None:
        """The run held for ``seconds`` (a user's pause): taken out of every time."""
        self.paused_s += max(0.0, seconds)
        self._open_paused_s += max(0.0, seconds)
        self._open_interrupted = True

    def interrupt(self) -> None:
        """An eval, checkpoint or sample happens in the open interval: not a steady one."""
        self._open_interrupted = True

    def record(self, step: int, now: float, tokens: int) -> None:
        """A logged step: ``tokens`` is the real tokens trained so far (a running count)."""
        if self.started_t is None:
            self.start(step, now, tokens)
            return
        steps = step - self.step
        if steps <= 0:  # the same step logged again: nothing new to measure
            return
        interval = Interval(steps, max(0.0, now - self.t - self._open_paused_s), tokens - self.tokens,
                            self._open_interrupted)
        if self.last is not None:  # the session's first interval is the warm-up: never steady
            self.recent.append(interval)
        self.last = interval
        self._steady = None
        self.step, self.t, self.tokens = step, now, tokens
        self._open_paused_s, self._open_interrupted = 0.0, False

    def finish(self, now: float, tokens: int | None = None) -> None:
        """Training ended at ``now``; ``tokens``, if given, is the final running count."""
        if tokens is not None:
            self.tokens = tokens
        self.ended_t = now

    def steady(self) -> list[Interval]:
        """The recent intervals the live numbers come from.

        When every recent interval was interrupted (a sample every logged step), they
        all count: what recurs that often is part of the pace."""
        if self._steady is not None:
            return self._steady
        pool = [i for i in self.recent if not i.interrupted] or list(self.recent)
        chosen: list[Interval] = []
        seconds = 0.0
        for interval in reversed(pool):  # newest first
            if len(chosen) >= self.window and seconds >= self.window_s:
                break
            chosen.append(interval)
            seconds += interval.seconds
        if len(chosen) >= 3:
            typical = statistics.median(i.step_s for i in chosen)
            if typical > 0:
                chosen = [i for i in chosen if i.step_s <= self.outlier * typical]
        self._steady = chosen
        return chosen

    def tokens_per_s(self) -> float | None:
        """Real tokens/s of the recent steady steps; during the warm-up, of the warm-up
        itself (slow, and true); None before any step or when nothing was counted."""
        chosen = self.steady() or ([self.last] if self.last is not None else [])
        seconds = sum(i.seconds for i in chosen)
        tokens = sum(i.tokens for i in chosen)
        return tokens / seconds if seconds > 0 and tokens > 0 else None

    def eta_s(self, total_steps: int) -> float | None:
        """Seconds until ``total_steps``, at the recent steady pace; None while only the
        warm-up has been seen (its pace says nothing about the steps to come)."""
        left = total_steps - self.step
        if left <= 0:
            return 0.0
        chosen = self.steady()
        steps = sum(i.steps for i in chosen)
        return sum(i.seconds for i in chosen) / steps * left if steps else None

    @property
    def trained_tokens(self) -> int:
        return self.tokens - self.first_tokens

    @property
    def train_seconds(self) -> float | None:
        """Training wall time so far (to the end once finished), pauses taken out."""
        if self.started_t is None:
            return None
        end = self.ended_t if self.ended_t is not None else self.t
        return max(0.0, end - self.started_t - self.paused_s)

    def average_tokens_per_s(self) -> float | None:
        """The run's real average: every real token trained over the training wall time."""
        seconds = self.train_seconds
        return self.trained_tokens / seconds if seconds and self.trained_tokens > 0 else None


def progress_eta_s(done: float, total: float, seconds: float) -> float | None:
    """Seconds left of a phase ``done`` of ``total`` parts through after ``seconds``, at its
    pace so far; None before the first part (no pace yet) or without a total."""
    if total <= 0 or done <= 0 or seconds < 0:
        return None
    return max(0.0, seconds / done * (total - done))


def seconds_words(seconds: float) -> str:
    """A duration as people say it, to the precision an estimate has: 40 s, 12 min, 2.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
