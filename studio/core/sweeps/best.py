"""The sweep's best trial, which way "best" points, and filing its adapter in the library.

When several machines share one study, each trial's run and adapter are on the machine that ran
it, so that machine files the best one (its driver does when the study ends, or
``lora-studio sweep --best NAME`` there); any other machine says where it is instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from studio.core import runs
from studio.core.cards import read_card
from studio.core.library import Library
from studio.core.sweeps.study import OWNER_ATTR, read_study, storage, this_machine

RUN_ATTR = "run_dir"  # the trial's training run folder


def tell(study: optuna.Study, number: int, value: float | None = None, state: TrialState | None = None) -> None:
    """``study.tell``; a grid sampler whose last point ends asks the study to stop, which Optuna allows
    only inside ``optimize`` and raises here after the trial's result is stored: that is no error."""
    try:
        study.tell(number, value, state=state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial the study's way (lowest loss, highest ROUGE-L)."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if not complete:
        return None
    pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    return pick(complete, key=lambda t: float(t.value or 0.0))


def best_elsewhere(study: optuna.Study) -> str:
    """Where the best trial ran when that is another machine (its adapter is there), else ""."""
    best = best_trial(study)
    owner = str(best.user_attrs.get(OWNER_ATTR, "")) if best is not None else ""
    if best is None or not owner or owner == this_machine():
        return ""
    return (f"the best trial, {best.number}, ran on {owner}: its adapter is there "
            f"(lora-studio sweep --best {study.study_name} on that machine files it)")


def file_best(name: str, study: optuna.Study | None = None) -> str:
    """File the best complete trial's adapter in the library under the sweep's name, with the
    sweep in its card ("use the best"); its library reference ("" when no trial is complete or
    the best ran on another machine: best_elsewhere says which). Once per best trial."""
    study = study or optuna.load_study(study_name=name, storage=storage(name))
    best = best_trial(study)
    if best is None or best_elsewhere(study):
        return ""
    here = this_machine()
    if study.user_attrs.get("best_trial") == best.number and study.user_attrs.get("best_ref") \
            and study.user_attrs.get("best_machine", here) == here:
        return str(study.user_attrs["best_ref"])
    adapter = Path(str(best.user_attrs.get(RUN_ATTR, ""))) / runs.ADAPTER_NAME
    card = read_card(adapter)
    if card is None:
        return ""
    view = read_study(name)
    card = dataclasses.replace(card, name=name, tags=[*card.tags, "sweep-best"], sweep={
        "name": name, "trial": best.number, "params": dict(best.params), "objective": view.objective,
        "direction": view.direction, "value": best.value, "trials": len(view.trials), "counts": view.counts()})
    with Library() as library:
        entry = library.add(adapter, card, name=name)
    study.set_user_attr("best_trial", best.number)
    study.set_user_attr("best_ref", entry.ref)
    study.set_user_attr("best_machine", here)
    return entry.ref
