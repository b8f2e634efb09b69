"""Runs a sweep: asks the study for trials, queues each as a train job, reports each trial's eval
curve back and cancels the trials the pruner gives up on, and files the best adapter.

Trials run through the run queue (core.queue), so they wait for free devices like any job and
outlive this process. The driver keeps nothing of its own: each trial's queue entry is in the
study (a user attribute, and the entry's source names the trial), so a driver started again
after a kill follows the trials where they are: none is lost, none runs twice. One driver per
sweep (a lock in its folder).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import optuna
from optuna.trial import TrialState

from studio.core import runs
from studio.core.cards import read_card
from studio.core.library import Library
from studio.core.queue import runner
from studio.core.queue.store import ENDED, Entry, QueueError, QueueStore
from studio.core.sweeps.spec import SweepSpec, planned_trials, trial_job
from studio.core.sweeps.study import distributions, open_study, read_study, sweep_folder

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "driver.lock"
ENTRY_ATTR, RUN_ATTR, PRUNED_ATTR, NOTE_ATTR = "queue_entry", "run_dir", "pruned_at", "note"


class SweepBusy(RuntimeError):
    pass


class SweepDriver:
    def __init__(self, spec: SweepSpec, say: Callable[[str], None] = lambda _t: None, poll_s: float = 1.0,
                 start_runner: Callable[[], Any] = runner.start_in_background):
        self.spec = spec
        self.say = say
        self.poll_s = poll_s
        self.start_runner = start_runner
        self._read_to: dict[str, int] = {}  # events bytes already read, per run folder

    def run(self, max_s: float | None = None) -> None:
        """Run the sweep to its end (its trials, its time budget), or for ``max_s``."""
        lock = self._take_lock()
        began = time.monotonic()
        try:
            study = open_study(self.spec)
            if "started_t" not in study.user_attrs:
                study.set_user_attr("started_t", time.time())
            with QueueStore() as store:
                while max_s is None or time.monotonic() - began < max_s:
                    active = self.follow(study, store)
                    if active:
                        self.start_runner()  # its runner may have died with an earlier driver: one at most
                    if active < self.spec.parallel and self._may_start(study):
                        self._start_trial(study, store)
                        continue
                    if active == 0 and not self._may_start(study):
                        break
                    time.sleep(self.poll_s)
            if max_s is None or time.monotonic() - began < max_s:
                ref = file_best(self.spec.name, study)
                if ref:
                    self.say(f"best trial's adapter filed in the library as {ref}")
        finally:
            lock.close()

    # -- starting trials ----------------------------------------------------------------------

    def _may_start(self, study: optuna.Study) -> bool:
        started = len(study.get_trials(deepcopy=False))
        planned = planned_trials(self.spec)
        if planned and started >= planned:
            return False
        spent = time.time() - float(study.user_attrs.get("started_t", time.time()))
        return not (self.spec.timeout_s and spent > self.spec.timeout_s)

    def _start_trial(self, study: optuna.Study, store: QueueStore) -> None:
        trial = study.ask(distributions(self.spec))
        self._queue(trial, dict(trial.params), store)

    def _queue(self, trial: optuna.trial.Trial, params: dict[str, Any], store: QueueStore) -> Entry:
        job = trial_job(self.spec, params, trial.number)
        entry = store.add(job, label=f"{self.spec.name} trial {trial.number}", source=_source(self.spec, trial.number))
        trial.set_user_attr(ENTRY_ATTR, entry.id)
        self.start_runner()
        self.say(f"trial {trial.number}: {_params_text(params)}: queued as #{entry.id}")
        return entry

    # -- following trials ---------------------------------------------------------------------

    def follow(self, study: optuna.Study, store: QueueStore) -> int:
        """Report and end the running trials; returns how many are still queued or running."""
        active = 0
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trial = optuna.trial.Trial(study, frozen._trial_id)
            entry = self._entry_of(frozen, trial, store)
            if entry is None:
                _tell(study, frozen.number, state=TrialState.FAIL)
                continue
            if entry.run_dir and frozen.user_attrs.get(RUN_ATTR) != entry.run_dir:
                trial.set_user_attr(RUN_ATTR, entry.run_dir)
            if entry.run_dir and PRUNED_ATTR not in frozen.user_attrs:
                self._report(frozen, trial, entry, store)
            entry = store.get(entry.id)
            if entry.state in ENDED:
                self._end(study, frozen.number, entry)
            else:
                active += 1
        return active

    def _entry_of(self, frozen: optuna.trial.FrozenTrial, trial: optuna.trial.Trial,
                  store: QueueStore) -> Entry | None:
        entry_id = frozen.user_attrs.get(ENTRY_ATTR)
        if entry_id is None:  # a driver killed between asking and recording: queued already, or not yet
            source = _source(self.spec, frozen.number)
            found = next((e for e in store.entries() if e.source == source), None)
            if found is None:
                return self._queue(trial, dict(frozen.params), store)
            trial.set_user_attr(ENTRY_ATTR, found.id)
            return found
        try:
            return store.get(int(entry_id))
        except QueueError:
            trial.set_user_attr(NOTE_ATTR, "its queue entry was removed")
            return None

    def _report(self, frozen: optuna.trial.FrozenTrial, trial: optuna.trial.Trial, entry: Entry,
                store: QueueStore) -> None:
        reported = frozen.intermediate_values
        for step, value in self._curve(Path(entry.run_dir)):
            if step in reported:
                continue
            trial.report(value, step)
            if trial.should_prune():
                trial.set_user_attr(PRUNED_ATTR, step)
                with contextlib.suppress(QueueError):
                    runner.cancel(store, entry.id)
                self.say(f"trial {frozen.number}: pruned at step {step} ({self.spec.objective} {value:.4g})")
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

    def _end(self, study: optuna.Study, number: int, entry: Entry) -> None:
        frozen = study.trials[number]
        if PRUNED_ATTR in frozen.user_attrs:
            _tell(study, number, state=TrialState.PRUNED)
            return
        value = objective_value(Path(entry.run_dir), self.spec.objective) if entry.state in ("done", "stopped") \
            else None
        if value is None:
            optuna.trial.Trial(study, frozen._trial_id).set_user_attr(
                NOTE_ATTR, entry.message or f"ended {entry.state} without a {self.spec.objective}")
            _tell(study, number, state=TrialState.FAIL)
            self.say(f"trial {number}: {entry.state}" + (f" ({entry.message})" if entry.message else ""))
            return
        _tell(study, number, value)
        self.say(f"trial {number}: {self.spec.objective} {value:.4g}")

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


def _tell(study: optuna.Study, number: int, value: float | None = None, state: TrialState | None = None) -> None:
    """``study.tell``; a grid sampler whose last point ends asks the study to stop, which Optuna allows
    only inside ``optimize`` and raises here after the trial's result is stored: that is no error."""
    try:
        study.tell(number, value, state=state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def objective_value(run_dir: Path, objective: str) -> float | None:
    """The trial's result, from its run's done event (the card's numbers)."""
    trained = runs.summarize(run_dir).trained
    if trained is None:
        return None
    value = getattr(trained.metrics, objective, None)
    return float(value) if isinstance(value, int | float) else None


def file_best(name: str, study: optuna.Study | None = None) -> str:
    """File the best complete trial's adapter in the library under the sweep's name, with the
    sweep in its card ("use the best"); its library reference. Once per best trial."""
    study = study or optuna.load_study(study_name=name, storage=_storage(name))
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if not complete:
        return ""
    best = min(complete, key=lambda t: t.value)  # type: ignore[arg-type, return-value]
    if study.user_attrs.get("best_trial") == best.number and study.user_attrs.get("best_ref"):
        return str(study.user_attrs["best_ref"])
    run_dir = Path(str(best.user_attrs.get(RUN_ATTR, "")))
    adapter = run_dir / runs.ADAPTER_NAME
    card = read_card(adapter)
    if card is None:
        return ""
    view = read_study(name)
    card = dataclasses.replace(card, name=name, tags=[*card.tags, "sweep-best"], sweep={
        "name": name, "trial": best.number, "params": dict(best.params), "objective": view.objective,
        "value": best.value, "trials": len(view.trials), "counts": view.counts()})
    with Library() as library:
        entry = library.add(adapter, card, name=name)
    study.set_user_attr("best_trial", best.number)
    study.set_user_attr("best_ref", entry.ref)
    return entry.ref


def _storage(name: str) -> str:
    from studio.core.sweeps.study import storage_url

    return storage_url(name)


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
