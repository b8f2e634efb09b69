"""Runs a sweep: asks the study for trials, queues each as a train job, reports each trial's eval
curve back and cancels the trials the pruner gives up on, and files the best adapter. With an
eval job's objective (``eval:rouge_l``), a trained trial's adapter is then scored by an eval job,
queued the same way, and the trial is told that job's metric.

Trials run through the run queue (core.queue), so they wait for free devices like any job and
outlive this process. The driver keeps nothing of its own: each trial's queue entries are in the
study (user attributes, and each entry's source names the trial), so a driver started again
after a kill follows the trials where they are: none is lost, none runs or is scored twice. One
driver per sweep and machine (a lock in its folder); drivers on machines that share the study
(study.py) each follow only their own trials, and wait for the others' before filing the best.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import optuna
from optuna.trial import TrialState

from studio.core import runs
from studio.core.queue import runner
from studio.core.queue.store import ACTIVE, ENDED, PRUNED, Entry, QueueError, QueueStore
from studio.core.sweeps import objectives
from studio.core.sweeps.best import RUN_ATTR, best_elsewhere, file_best, tell
from studio.core.sweeps.spec import SweepSpec, eval_trial_job, planned_trials, trial_job
from studio.core.sweeps.study import (
    OWNER_ATTR,
    asking,
    distributions,
    may_start,
    open_study,
    sweep_folder,
    this_machine,
    why_pruned,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SweepBusy", "SweepDriver", "file_best"]
LOCK_NAME = "driver.lock"
ENTRY_ATTR, PRUNED_ATTR, NOTE_ATTR = "queue_entry", "pruned_at", "note"
EVAL_ENTRY_ATTR, EVAL_RUN_ATTR = "eval_queue_entry", "eval_run_dir"  # an eval: objective's scoring job
ARRAY_ATTR = "array_dir"  # asked for a SLURM array (array.py): run there, told by --collect, never queued here
ORPHAN_S = 30.0  # a trial with no machine this long after it was asked: its driver died before naming one


class SweepBusy(RuntimeError):
    pass


class SweepDriver:
    def __init__(self, spec: SweepSpec, say: Callable[[str], None] = lambda _t: None, poll_s: float = 1.0,
                 start_runner: Callable[[], Any] = runner.start_in_background):
        self.spec = spec
        self.say = say
        self.poll_s = poll_s
        self.start_runner = start_runner
        self.metric = objectives.eval_metric(spec.objective)  # "" for a training objective
        self.machine = this_machine()
        self._read_to: dict[str, int] = {}  # events bytes already read, per run folder

    def run(self, max_s: float | None = None) -> None:
        """Run the sweep to its end (its trials, its time budget, other machines' trials), or for ``max_s``."""
        lock = self._take_lock()
        began = time.monotonic()
        waiting_said = False
        try:
            study = open_study(self.spec)
            if "started_t" not in study.user_attrs:
                study.set_user_attr("started_t", time.time())
            with QueueStore() as store:
                while max_s is None or time.monotonic() - began < max_s:
                    active, elsewhere = self.follow(study, store)
                    if active:
                        self.start_runner()  # its runner may have died with an earlier driver: one at most
                    if active < self.spec.parallel and self._start_trial(study, store):
                        continue
                    if active == 0 and not may_start(self.spec, study):
                        if not elsewhere:
                            break
                        if not waiting_said:
                            self.say(f"{elsewhere} trial(s) still running on other machines: waiting for them")
                            waiting_said = True
                    time.sleep(self.poll_s)
            if max_s is None or time.monotonic() - began < max_s:
                ref = file_best(self.spec.name, study)
                if ref:
                    self.say(f"best trial's adapter filed in the library as {ref}")
                elif elsewhere_text := best_elsewhere(study):
                    self.say(elsewhere_text)
        finally:
            lock.close()

    # -- starting trials ----------------------------------------------------------------------

    def _start_trial(self, study: optuna.Study, store: QueueStore) -> bool:
        """Ask for the next trial and queue it; False when the budget is spent."""
        with asking(self.spec.name):
            if not may_start(self.spec, study):
                return False
            trial = study.ask(distributions(self.spec))
            trial.set_user_attr(OWNER_ATTR, self.machine)
        planned = planned_trials(self.spec)
        if planned and trial.number >= planned:  # another machine on a server database asked at the same moment
            trial.set_user_attr(NOTE_ATTR, "asked once the budget was taken by other machines: not run")
            tell(study, trial.number, state=TrialState.FAIL)
            return False
        self._queue(trial, dict(trial.params), store)
        return True

    def _queue(self, trial: optuna.trial.Trial, params: dict[str, Any], store: QueueStore) -> Entry:
        job = trial_job(self.spec, params, trial.number)
        entry = store.add(job, label=f"{self.spec.name} trial {trial.number}", source=_source(self.spec, trial.number))
        trial.set_user_attr(ENTRY_ATTR, entry.id)
        self.start_runner()
        self.say(f"trial {trial.number}: {_params_text(params)}: queued as #{entry.id}")
        return entry

    # -- following trials ---------------------------------------------------------------------

    def follow(self, study: optuna.Study, store: QueueStore) -> tuple[int, int]:
        """Report and end this machine's running trials; returns how many of them are still queued or
        running, and how many other machines' trials are still running."""
        active = elsewhere = 0
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not self._is_ours(study, frozen):
                elsewhere += ARRAY_ATTR not in frozen.user_attrs  # an array's trials end by --collect
                continue
            active += self._follow_trial(study, frozen, optuna.trial.Trial(study, frozen._trial_id), store)
        return active, elsewhere

    def _is_ours(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> bool:
        if ARRAY_ATTR in frozen.user_attrs:
            return False
        owner = frozen.user_attrs.get(OWNER_ATTR)
        if owner:
            return bool(owner == self.machine)
        if ENTRY_ATTR in frozen.user_attrs:
            return True  # queued by a driver from before trials named their machine: this one's
        started = frozen.datetime_start
        if started is not None and (datetime.datetime.now() - started).total_seconds() < ORPHAN_S:
            return False  # its driver is naming its machine right now
        optuna.trial.Trial(study, frozen._trial_id).set_user_attr(OWNER_ATTR, self.machine)
        return True

    def _follow_trial(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial, trial: optuna.trial.Trial,
                      store: QueueStore) -> bool:
        """One trial's next move; True while it still has a job queued or running."""
        entry = self._entry(frozen, trial, store, ENTRY_ATTR, _source(self.spec, frozen.number),
                            lambda: self._queue(trial, dict(frozen.params), store))
        if entry is None:
            tell(study, frozen.number, state=TrialState.FAIL)
            return False
        if entry.run_dir and frozen.user_attrs.get(RUN_ATTR) != entry.run_dir:
            trial.set_user_attr(RUN_ATTR, entry.run_dir)
        if entry.run_dir and PRUNED_ATTR not in frozen.user_attrs and not self.metric:
            self._report(study, frozen, trial, entry, store)
        elif PRUNED_ATTR in frozen.user_attrs and entry.state in ACTIVE and entry.ending != PRUNED:
            # A driver killed between its verdict and the cancel: ask again (the entry keeps the ask).
            reason = frozen.user_attrs.get(NOTE_ATTR) or f"pruned by the sweep at step {frozen.user_attrs[PRUNED_ATTR]}"
            with contextlib.suppress(QueueError):
                runner.cancel(store, entry.id, pruned=str(reason))
        entry = store.get(entry.id)
        if entry.state not in ENDED:
            return True
        if PRUNED_ATTR in frozen.user_attrs:
            tell(study, frozen.number, state=TrialState.PRUNED)
            return False
        if entry.state not in ("done", "stopped"):
            self._fail(study, frozen, entry.message or f"ended {entry.state}", entry.state)
            return False
        if self.metric:
            return self._score(study, frozen, trial, entry, store)
        value = objectives.train_value(Path(entry.run_dir), self.spec.objective)
        if value is None:
            self._fail(study, frozen, f"ended {entry.state} without a {self.spec.objective}", entry.state)
            return False
        tell(study, frozen.number, value)
        self.say(f"trial {frozen.number}: {self.spec.objective} {value:.4g}")
        return False

    def _score(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial, trial: optuna.trial.Trial,
               trained: Entry, store: QueueStore) -> bool:
        """An eval: objective: the trained adapter's eval job, queued once; the trial is told its metric."""
        adapter = Path(trained.run_dir) / runs.ADAPTER_NAME
        entry = self._entry(frozen, trial, store, EVAL_ENTRY_ATTR, _source(self.spec, frozen.number) + " eval",
                            lambda: self._queue_eval(frozen, trial, trained, store))
        if entry is None:
            self._fail(study, frozen, "its eval job's queue entry was removed", "failed")
            return False
        if entry.run_dir and frozen.user_attrs.get(EVAL_RUN_ATTR) != entry.run_dir:
            trial.set_user_attr(EVAL_RUN_ATTR, entry.run_dir)
        if entry.state not in ENDED:
            return True
        value = objectives.eval_value(Path(entry.run_dir), self.metric) if entry.state == "done" else None
        if value is None:
            why = entry.message or ("no rows had an answer to score" if entry.state == "done" else entry.state)
            self._fail(study, frozen, f"its eval job of {adapter} gave no {self.metric}: {why}", entry.state)
            return False
        tell(study, frozen.number, value)
        self.say(f"trial {frozen.number}: {self.metric} {value:.4g} (eval job #{entry.id})")
        return False

    def _queue_eval(self, frozen: optuna.trial.FrozenTrial, trial: optuna.trial.Trial, trained: Entry,
                    store: QueueStore) -> Entry:
        job = eval_trial_job(self.spec, trial_job(self.spec, dict(frozen.params), frozen.number),
                             str(Path(trained.run_dir) / runs.ADAPTER_NAME))
        entry = store.add(job, label=f"{self.spec.name} trial {frozen.number} eval",
                          source=_source(self.spec, frozen.number) + " eval")
        trial.set_user_attr(EVAL_ENTRY_ATTR, entry.id)
        self.start_runner()
        self.say(f"trial {frozen.number}: trained; its eval job queued as #{entry.id}")
        return entry

    def _entry(self, frozen: optuna.trial.FrozenTrial, trial: optuna.trial.Trial, store: QueueStore, attr: str,
               source: str, add: Callable[[], Entry]) -> Entry | None:
        """The trial's queue entry recorded under ``attr``; one a killed driver queued but did not record
        is found by its source, and one never queued is queued (``add``) now: never twice."""
        entry_id = frozen.user_attrs.get(attr)
        if entry_id is None:
            found = next((e for e in store.entries() if e.source == source), None)
            if found is None:
                return add()
            trial.set_user_attr(attr, found.id)
            return found
        try:
            return store.get(int(entry_id))
        except QueueError:
            trial.set_user_attr(NOTE_ATTR, "its queue entry was removed")
            return None

    def _report(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial, trial: optuna.trial.Trial,
                entry: Entry, store: QueueStore) -> None:
        curve = dict(frozen.intermediate_values)
        for step, value in self._curve(Path(entry.run_dir)):
            if step in curve:
                continue
            trial.report(value, step)
            curve[step] = value
            if trial.should_prune():
                reason = why_pruned(self.spec, study, curve, step)
                trial.set_user_attr(PRUNED_ATTR, step)
                trial.set_user_attr(NOTE_ATTR, reason)  # the Sweeps page's note, in the queue entry's words
                with contextlib.suppress(QueueError):  # its job already ended: the runner records how
                    runner.cancel(store, entry.id, pruned=reason)
                self.say(f"trial {frozen.number}: {reason}")
                return

    def _curve(self, run_dir: Path) -> list[tuple[int, float]]:
        """New (step, objective) points of the run's events since the last look."""
        path = run_dir / runs.EVENTS_NAME
        start = self._read_to.get(str(run_dir), 0)
        try:
            with open(path, "rb") as handle:
                handle.seek(start)
                chunk = handle.read()
        except OSError:
            return []
        whole = chunk[:chunk.rfind(b"\n") + 1]
        self._read_to[str(run_dir)] = start + len(whole)
        points = []
        for raw in whole.splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(raw)
                value = _objective_point(event, self.spec.objective)
                if value is not None:
                    points.append(value)
        return points

    def _fail(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial, note: str, state: str) -> None:
        optuna.trial.Trial(study, frozen._trial_id).set_user_attr(NOTE_ATTR, note)
        tell(study, frozen.number, state=TrialState.FAIL)
        self.say(f"trial {frozen.number}: {state} ({note})")

    def _take_lock(self) -> IO[str]:
        handle = open(sweep_folder(self.spec.name) / LOCK_NAME, "a+")
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise SweepBusy(f"the sweep {self.spec.name} is already being run by another process") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle


def _objective_point(event: Any, objective: str) -> tuple[int, float] | None:
    if not isinstance(event, dict):
        return None
    if objective == "train_loss":
        key, kind = "loss", "step"
    else:
        key, kind = objective, "eval"
    value, step = event.get(key), event.get("step")
    if event.get("type") != kind or not isinstance(value, int | float) or not isinstance(step, int):
        return None
    return step, float(value)


def _source(spec: SweepSpec, number: int) -> str:
    return f"sweep {spec.name} trial {number}"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{key.rpartition('.')[2]}={value:.3g}" if isinstance(value, float) else
                     f"{key.rpartition('.')[2]}={value}" for key, value in params.items())
