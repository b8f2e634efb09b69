"""Where a followed run is, and which of the Monitor's buttons act there: one state machine.

Issue 21: after Stop, the final evaluation ran 71 s with Pause and Cancel enabled, and the
header said "Step 9 / 40" while its bar said "Paused: 10 / 40". Each state here names the
controls that do something in it (the rest are disabled), and the state moves only on the
worker's events (phase, hello, step), the user's commands and the run's end. No Qt: the
header shows it, the Monitor page enables its buttons from it, and the tests walk every
transition.

What each control does in the worker (engine.callbacks): pause, stop and checkpoint act
between training steps; cancel ends the worker at once, in any phase, and saves nothing.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    IDLE = "idle"  # no run followed
    STARTING = "starting"  # launched; no hello yet, so its control socket may not be up
    LOADING = "loading"  # loading the model, preparing the data
    TRAINING = "training"  # (compiling included)
    PAUSED = "paused"
    STOPPING = "stopping"  # told to stop: it finishes the step, evaluates, saves
    EVALUATING = "evaluating"  # a periodic evaluation: training goes on after it
    FINAL_EVALUATION = "final_evaluation"  # training is over (or the job never trains)
    SAVING = "saving"
    WORKING = "working"  # another job's phase: merging, generating, scoring, answering…
    CANCELLING = "cancelling"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"
    CANCELLED = "cancelled"


PAUSE, STOP, CANCEL, CHECKPOINT = "pause", "stop", "cancel", "checkpoint"
CONTROLS = (PAUSE, STOP, CANCEL, CHECKPOINT)
ENDED = frozenset({RunState.DONE, RunState.STOPPED, RunState.FAILED, RunState.CANCELLED})

ENABLED: dict[RunState, frozenset[str]] = {
    RunState.IDLE: frozenset(),
    RunState.STARTING: frozenset(),  # nothing to reach yet: the worker is importing torch
    RunState.LOADING: frozenset({CANCEL}),  # no step to pause at, finish or checkpoint
    RunState.TRAINING: frozenset({PAUSE, STOP, CANCEL, CHECKPOINT}),
    RunState.PAUSED: frozenset({PAUSE, STOP, CANCEL}),  # Pause reads Resume; a checkpoint waits for a step
    RunState.STOPPING: frozenset({CANCEL}),  # the stop saves a checkpoint anyway
    RunState.EVALUATING: frozenset({STOP, CANCEL}),  # a stop acts at the next step's end
    RunState.FINAL_EVALUATION: frozenset({CANCEL}),
    RunState.SAVING: frozenset({CANCEL}),
    RunState.WORKING: frozenset({CANCEL}),
    RunState.CANCELLING: frozenset(),
    **{state: frozenset() for state in ENDED},
}

# The header's pill; None: the phase's own label (Loading model, Compiling…, Merging).
LABELS: dict[RunState, str | None] = {
    RunState.IDLE: "", RunState.STARTING: "Starting the worker", RunState.LOADING: None,
    RunState.TRAINING: None, RunState.PAUSED: "Paused", RunState.STOPPING: "Stopping",
    RunState.EVALUATING: "Evaluating", RunState.FINAL_EVALUATION: None, RunState.SAVING: "Saving",
    RunState.WORKING: None, RunState.CANCELLING: "Cancelling", RunState.DONE: "Done",
    RunState.STOPPED: "Stopped", RunState.FAILED: "Failed", RunState.CANCELLED: "Cancelled",
}

LOADING_PHASES = frozenset({"loading_model", "preparing_data", "waiting"})
TRAINING_PHASES = frozenset({"training", "compiling"})
STEPPING = frozenset({RunState.TRAINING, RunState.PAUSED, RunState.STOPPING})  # the bar counts steps


class RunStates:
    """The state of one followed run. ``phase`` is the newest phase name (for its label)."""

    def __init__(self) -> None:
        self.reset(live=False)

    def reset(self, live: bool) -> None:
        self.state = RunState.STARTING if live else RunState.IDLE
        self.phase = ""
        self.training_over = False  # stopped, or saving: an evaluation now is the final one
        self.trained = False  # a step or a training phase was seen: the last evaluation is "final"

    def enabled(self, control: str) -> bool:
        return control in ENABLED[self.state]

    @property
    def live(self) -> bool:
        return self.state not in ENDED and self.state is not RunState.IDLE

    def hello(self) -> RunState:
        """The worker said hello: its control socket is up."""
        if self.state is RunState.STARTING:
            self.state = RunState.LOADING
        return self.state

    def on_phase(self, name: str, steps_done: int = 0, total_steps: int = 0) -> RunState:
        """A ``phase`` event; ``steps_done``/``total_steps``: the steps known so far."""
        if self.state in ENDED or self.state in (RunState.CANCELLING, RunState.IDLE):
            return self.state  # the end (or a replay's end, said first) stays
        self.phase = name
        if name in LOADING_PHASES:
            self.state = RunState.LOADING
        elif name in TRAINING_PHASES:
            self.trained = True
            if self.state is not RunState.STOPPING:
                self.state = RunState.TRAINING
        elif name == "paused":
            if self.state is not RunState.STOPPING:
                self.state = RunState.PAUSED
        elif name == "stopping":
            self.state, self.training_over = RunState.STOPPING, True
        elif name == "evaluating":
            periodic = (self.state in (RunState.TRAINING, RunState.PAUSED, RunState.EVALUATING)
                        and not self.training_over and not (total_steps and steps_done >= total_steps))
            self.state = RunState.EVALUATING if periodic else RunState.FINAL_EVALUATION
            self.training_over = self.training_over or not periodic
        elif name == "saving":
            self.state, self.training_over = RunState.SAVING, True
        else:
            self.state = RunState.WORKING
        return self.state

    def on_step(self) -> RunState:
        """A ``step`` event: the worker trains (a window reattached mid-run may see no phase first)."""
        self.trained = True
        if self.state in (RunState.STARTING, RunState.LOADING):
            self.state, self.phase = RunState.TRAINING, "training"
        return self.state

    def command(self, command: str) -> RunState:
        """The user sent ``command`` and the worker took it."""
        state = self.state
        if command == "pause" and state is RunState.TRAINING:
            self.state, self.phase = RunState.PAUSED, "paused"
        elif command == "resume" and state is RunState.PAUSED:
            self.state, self.phase = RunState.TRAINING, "training"
        elif command == "stop" and state in (RunState.TRAINING, RunState.PAUSED, RunState.EVALUATING):
            self.state, self.training_over = RunState.STOPPING, True
        elif command == "cancel" and self.live:
            self.state = RunState.CANCELLING
        return self.state

    def end(self, status: str) -> RunState:
        """The run ended: done, stopped, failed or cancelled (anything else reads as failed)."""
        self.state = RunState(status) if status in ENDED else RunState.FAILED
        return self.state

    def label(self, phase_labels: dict[str, str]) -> str:
        text = LABELS[self.state]
        if text is not None:
            return text
        if self.state is RunState.FINAL_EVALUATION:
            return "Final evaluation" if self.trained else "Evaluating"
        return phase_labels.get(self.phase) or self.phase.replace("_", " ").capitalize()
