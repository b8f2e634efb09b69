"""The run header's state machine (gui.run_states), over every transition: the state it moves
to, and on the real Monitor page, which buttons are enabled there, what the pill, the step and
the bar say (issue 21: after Stop, a 71 s final evaluation kept its bar at 73% and Pause and
Cancel enabled; a paused run said "Step 9 / 40" above a bar saying "Paused: 10 / 40")."""

from __future__ import annotations

import time

import pytest

from studio.core import protocol, runs
from studio.gui.pages.monitor_page import MonitorPage
from studio.gui.run_states import CONTROLS, ENABLED, ENDED, RunState, RunStates
from studio.gui.widgets.run_header import Counted

S = RunState


def phase(name: str, done: int | None = None, total: int | None = None, detail: str | None = None,
          t: float | None = None) -> protocol.Phase:
    return protocol.Phase(name, done=done, total=total, detail=detail, t=time.time() if t is None else t)


def step(i: int, total: int = 40) -> protocol.Step:
    return protocol.Step(step=i, total_steps=total, epoch=i / total, loss=2.0 - i / 100, lr=1e-3, eta_s=3.0 * (total - i))


# -- the machine alone: each transition -----------------------------------------------------------

PATHS: dict[RunState, list[tuple]] = {  # how each state is reached from a fresh live run
    S.STARTING: [],
    S.LOADING: [("hello",)],
    S.TRAINING: [("hello",), ("phase", "training", 0, 40)],
    S.PAUSED: [("hello",), ("phase", "training", 0, 40), ("phase", "paused", 10, 40)],
    S.STOPPING: [("hello",), ("phase", "training", 0, 40), ("command", "stop")],
    S.EVALUATING: [("hello",), ("phase", "training", 0, 40), ("phase", "evaluating", 20, 40)],
    S.FINAL_EVALUATION: [("hello",), ("phase", "training", 0, 40), ("phase", "stopping", 29, 40),
                         ("phase", "evaluating", 29, 40)],
    S.SAVING: [("hello",), ("phase", "training", 0, 40), ("phase", "saving", 40, 40)],
    S.WORKING: [("hello",), ("phase", "merging", 0, 0)],
    S.CANCELLING: [("hello",), ("phase", "training", 0, 40), ("command", "cancel")],
    **{state: [("hello",), ("end", state.value)] for state in ENDED},
}


def reach(state: RunState) -> RunStates:
    machine = RunStates()
    machine.reset(live=state is not S.IDLE)
    for move in PATHS.get(state, []):
        apply(machine, move)
    assert machine.state is state
    return machine


def apply(machine: RunStates, move: tuple) -> RunState:
    kind, *args = move
    if kind == "hello":
        return machine.hello()
    if kind == "phase":
        return machine.on_phase(*args)
    if kind == "step":
        return machine.on_step()
    if kind == "command":
        return machine.command(args[0])
    return machine.end(args[0])


TRANSITIONS = [  # (from, move, to): every way a state moves on
    (S.IDLE, ("phase", "training", 0, 40), S.IDLE),  # nothing followed: nothing moves it
    (S.STARTING, ("hello",), S.LOADING),
    (S.STARTING, ("step",), S.TRAINING),  # reattached mid-run
    (S.STARTING, ("phase", "loading_model", 0, 0), S.LOADING),
    (S.STARTING, ("end", "failed"), S.FAILED),
    (S.LOADING, ("phase", "preparing_data", 294, 327), S.LOADING),
    (S.LOADING, ("phase", "training", 0, 40), S.TRAINING),
    (S.LOADING, ("phase", "compiling", 0, 0), S.TRAINING),
    (S.LOADING, ("step",), S.TRAINING),
    (S.LOADING, ("phase", "merging", 0, 2), S.WORKING),
    (S.LOADING, ("phase", "evaluating", 0, 0), S.FINAL_EVALUATION),  # an eval job: no training
    (S.LOADING, ("command", "pause"), S.LOADING),  # nothing to pause at
    (S.LOADING, ("command", "stop"), S.LOADING),
    (S.LOADING, ("command", "cancel"), S.CANCELLING),
    (S.LOADING, ("end", "failed"), S.FAILED),
    (S.TRAINING, ("step",), S.TRAINING),
    (S.TRAINING, ("phase", "paused", 10, 40), S.PAUSED),
    (S.TRAINING, ("command", "pause"), S.PAUSED),
    (S.TRAINING, ("command", "resume"), S.TRAINING),
    (S.TRAINING, ("command", "stop"), S.STOPPING),
    (S.TRAINING, ("phase", "stopping", 10, 40), S.STOPPING),  # a stop sent from elsewhere (the CLI)
    (S.TRAINING, ("command", "cancel"), S.CANCELLING),
    (S.TRAINING, ("phase", "evaluating", 20, 40), S.EVALUATING),
    (S.TRAINING, ("phase", "evaluating", 40, 40), S.FINAL_EVALUATION),  # after the last step
    (S.TRAINING, ("phase", "saving", 40, 40), S.SAVING),
    (S.TRAINING, ("end", "done"), S.DONE),
    (S.PAUSED, ("command", "resume"), S.TRAINING),
    (S.PAUSED, ("phase", "training", 10, 40), S.TRAINING),
    (S.PAUSED, ("command", "pause"), S.PAUSED),
    (S.PAUSED, ("command", "stop"), S.STOPPING),
    (S.PAUSED, ("command", "cancel"), S.CANCELLING),
    (S.PAUSED, ("end", "failed"), S.FAILED),
    (S.STOPPING, ("phase", "training", 10, 40), S.STOPPING),  # the resume that the stop released
    (S.STOPPING, ("phase", "paused", 10, 40), S.STOPPING),
    (S.STOPPING, ("step",), S.STOPPING),
    (S.STOPPING, ("command", "pause"), S.STOPPING),
    (S.STOPPING, ("command", "stop"), S.STOPPING),
    (S.STOPPING, ("phase", "evaluating", 10, 40), S.FINAL_EVALUATION),
    (S.STOPPING, ("phase", "saving", 10, 40), S.SAVING),
    (S.STOPPING, ("command", "cancel"), S.CANCELLING),
    (S.STOPPING, ("end", "stopped"), S.STOPPED),
    (S.EVALUATING, ("phase", "evaluating", 20, 40), S.EVALUATING),  # its progress
    (S.EVALUATING, ("phase", "training", 20, 40), S.TRAINING),
    (S.EVALUATING, ("command", "stop"), S.STOPPING),
    (S.EVALUATING, ("command", "pause"), S.EVALUATING),
    (S.EVALUATING, ("phase", "stopping", 20, 40), S.STOPPING),
    (S.EVALUATING, ("command", "cancel"), S.CANCELLING),
    (S.FINAL_EVALUATION, ("phase", "evaluating", 29, 40), S.FINAL_EVALUATION),
    (S.FINAL_EVALUATION, ("command", "stop"), S.FINAL_EVALUATION),  # training is over: nothing to stop
    (S.FINAL_EVALUATION, ("command", "pause"), S.FINAL_EVALUATION),
    (S.FINAL_EVALUATION, ("phase", "saving", 29, 40), S.SAVING),
    (S.FINAL_EVALUATION, ("command", "cancel"), S.CANCELLING),
    (S.FINAL_EVALUATION, ("end", "stopped"), S.STOPPED),
    (S.SAVING, ("phase", "evaluating", 40, 40), S.FINAL_EVALUATION),  # a merged export's reload check
    (S.SAVING, ("phase", "merging", 0, 0), S.WORKING),
    (S.SAVING, ("command", "stop"), S.SAVING),
    (S.SAVING, ("command", "cancel"), S.CANCELLING),
    (S.SAVING, ("end", "done"), S.DONE),
    (S.WORKING, ("phase", "merging", 1, 2), S.WORKING),
    (S.WORKING, ("phase", "saving", 0, 0), S.SAVING),
    (S.WORKING, ("command", "pause"), S.WORKING),
    (S.WORKING, ("command", "cancel"), S.CANCELLING),
    (S.WORKING, ("end", "done"), S.DONE),
    (S.CANCELLING, ("phase", "training", 10, 40), S.CANCELLING),  # a late event of the dying worker
    (S.CANCELLING, ("step",), S.CANCELLING),
    (S.CANCELLING, ("command", "resume"), S.CANCELLING),
    (S.CANCELLING, ("end", "cancelled"), S.CANCELLED),
    (S.CANCELLING, ("end", "failed"), S.FAILED),  # killed before it could say so
    (S.STARTING, ("end", "running"), S.FAILED),  # a status it does not know reads as failed
]


@pytest.mark.parametrize(("start", "move", "end"), TRANSITIONS, ids=lambda v: str(v))
def test_each_transition(start, move, end):
    machine = reach(start)
    assert apply(machine, move) is end


def test_every_state_is_reached_and_left():
    starts = {start for start, _move, end in TRANSITIONS if end is not start}
    assert starts >= set(RunState) - ENDED - {S.IDLE}
    assert {end for _s, _m, end in TRANSITIONS} >= set(RunState) - {S.IDLE, S.STARTING}  # those two: reset()


@pytest.mark.parametrize("ended", sorted(ENDED))
@pytest.mark.parametrize("move", [("hello",), ("step",), ("phase", "training", 5, 40), ("phase", "saving", 5, 40),
                                  ("command", "pause"), ("command", "stop"), ("command", "cancel")])
def test_an_ended_run_stays_ended(ended, move):
    machine = reach(ended)
    assert apply(machine, move) is ended and not machine.live
    assert not any(machine.enabled(control) for control in CONTROLS)


def test_the_controls_of_each_state():
    """What acts where (engine.callbacks): pause, stop and checkpoint between training steps;
    cancel whenever the worker can be reached; nothing before its hello or after its end."""
    assert ENABLED[S.TRAINING] == set(CONTROLS)
    assert ENABLED[S.PAUSED] == {"pause", "stop", "cancel"}
    for state in (S.LOADING, S.STOPPING, S.FINAL_EVALUATION, S.SAVING, S.WORKING):
        assert ENABLED[state] == {"cancel"}, state
    assert ENABLED[S.EVALUATING] == {"stop", "cancel"}
    for state in (S.IDLE, S.STARTING, S.CANCELLING, *ENDED):
        assert not ENABLED[state], state


def test_a_final_evaluation_is_named_so_only_after_training():
    assert reach(S.FINAL_EVALUATION).label({}) == "Final evaluation"
    eval_job = reach(S.LOADING)
    eval_job.on_phase("evaluating", 0, 0)
    assert eval_job.label({}) == "Evaluating"


# -- on the Monitor page: the buttons, the pill, the step and the bar ----------------------------

@pytest.fixture
def page(qtbot, state):
    monitor = MonitorPage(state)
    qtbot.addWidget(monitor)
    monitor.resize(1100, 760)
    monitor.show()
    monitor.view.reset(runs.create_run_dir("states"), live=True)  # followed as follow() does, with no worker
    return monitor


def buttons(page: MonitorPage) -> set[str]:
    pairs = zip(CONTROLS, (page.pause_button, page.stop_button, page.cancel_button, page.checkpoint_button),
                strict=True)
    return {control for control, button in pairs if button.isEnabled()}


def check(page: MonitorPage, state: RunState, pill: str) -> None:
    header = page.view.header
    assert header.state is state
    assert buttons(page) == ENABLED[state], state
    assert header.phase.text() == pill


def test_a_stopped_run_from_start_to_end(page):
    """The issue's run: loading, training, a pause, a stop, the final evaluation, saving."""
    header, bar, view = page.view.header, page.view.header.progress, page.view
    check(page, S.STARTING, "Starting the worker")
    assert bar.maximum() == 0  # busy: no number yet
    view.add_events([protocol.Hello(pid=1, devices=[{"type": "cpu", "threads": 8}])])
    check(page, S.LOADING, "")
    view.add_events([phase("loading_model", detail="/models/SmolLM2-135M.gguf")])
    check(page, S.LOADING, "Loading model")
    assert header.detail.text() == "/models/SmolLM2-135M.gguf" and bar.maximum() == 0
    view.add_events([phase("preparing_data", 294, 327, "294 train / 33 held-out rows")])
    check(page, S.LOADING, "Preparing data")
    assert (bar.value(), bar.maximum()) == (294, 327)
    view.add_events([phase("training", 0, 40), *(step(i) for i in range(1, 10))])
    check(page, S.TRAINING, "Training")
    assert page.pause_button.text() == "Pause" and "Step</span>&nbsp;<b>9 / 40" in header.stats.text()

    # Paused at step 10's end, before its step event: one number for the step, everywhere.
    view.add_events([phase("paused", 10, 40)])
    check(page, S.PAUSED, "Paused")
    assert page.pause_button.text() == "Resume"
    assert "Step</span>&nbsp;<b>10 / 40" in header.stats.text() and bar.value() == 10
    assert bar.text() == "Paused at step 10 of 40"
    header.command("resume")
    check(page, S.TRAINING, "Training")
    view.add_events([phase("training", 10, 40), step(10), step(11)])
    check(page, S.TRAINING, "Training")

    header.command("stop")  # what Stop does once the worker took it
    check(page, S.STOPPING, "Stopping")
    view.add_events([step(12), phase("stopping", 12, 40, "finishing this step")])
    check(page, S.STOPPING, "Stopping")
    assert bar.text() == "Stopping at step 12 of 40"

    start = time.time() - 30
    view.add_events([phase("evaluating", detail="on 33 of 33 held-out rows", t=start)])
    check(page, S.FINAL_EVALUATION, "Final evaluation")
    assert bar.maximum() == 0 and "ETA</span>&nbsp;<b>—" in header.stats.text()  # busy until the first count
    view.add_events([phase("evaluating", 3, 9, t=start + 30)])
    check(page, S.FINAL_EVALUATION, "Final evaluation")
    assert (bar.value(), bar.maximum(), bar.text()) == (3, 9, "Final evaluation: 3 / 9 batches")
    assert header.detail.text() == "on 33 of 33 held-out rows"  # a count keeps the phase's line
    assert "ETA</span>&nbsp;<b>—" not in header.stats.text()
    view.add_events([phase("saving")])
    check(page, S.SAVING, "Saving")
    assert bar.maximum() == 0

    page._on_finished("stopped", protocol.Done(outputs={"adapter_path": "/x/adapter", "stopped": True,
                                                        "metrics": {"steps": 12}}))
    check(page, S.STOPPED, "Stopped")
    assert (bar.value(), bar.maximum(), bar.text()) == (12, 40, "12 / 40 steps")


def test_a_periodic_evaluation_then_the_last_one(page):
    view = page.view
    view.add_events([protocol.Hello(pid=1), phase("training", 0, 4), step(1, 4), step(2, 4),
                     phase("evaluating", 1, 5)])
    check(page, S.EVALUATING, "Evaluating")
    assert page.view.header.progress.text() == "Evaluating: 1 / 5 batches"
    view.add_events([phase("evaluating", 5, 5), phase("training", 2, 4)])
    check(page, S.TRAINING, "Training")
    assert page.view.header.progress.text() == "50 %"
    view.add_events([step(3, 4), step(4, 4), phase("evaluating", 1, 5)])
    check(page, S.FINAL_EVALUATION, "Final evaluation")  # after the last step: nothing left to stop


def test_cancel_and_a_merge(page):
    view, header = page.view, page.view.header
    view.add_events([protocol.Hello(pid=1), phase("training", 0, 40), step(1)])
    header.command("cancel")
    check(page, S.CANCELLING, "Cancelling")
    view.add_events([step(2), phase("paused", 2, 40)])  # late events of the dying worker
    check(page, S.CANCELLING, "Cancelling")
    page._on_finished("cancelled", protocol.Error(kind="cancelled", message="cancelled by the user"))
    check(page, S.CANCELLED, "Cancelled")

    view.reset(runs.create_run_dir("merge"), live=True)
    page._sync_controls()
    view.add_events([protocol.Hello(pid=2), phase("merging", 1, 2)])
    check(page, S.WORKING, "Merging")
    assert header.progress.text() == "Merging: 1 / 2"


def test_a_counted_phase_eta_is_its_own_pace():
    counted = Counted("evaluating", started_t=100.0, started_done=0, done=3, total=9, at_t=130.0)
    assert counted.eta_s() == pytest.approx(60.0)  # 10 s a batch, six left
    assert Counted("evaluating", 100.0, 1, 1, 9, 100.0).eta_s() is None  # one count: no pace yet
