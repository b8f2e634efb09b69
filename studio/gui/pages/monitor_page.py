"""Monitor page: the live run, its charts, and the buttons that steer it.

The page follows a run folder (whichever process started the worker) and speaks
to the worker through its control socket: pause/resume, stop (finish the step and
save), cancel (exit now, save nothing) and checkpoint now. Which buttons act is the
header's state machine's to say (gui.run_states): a button that would do nothing now is
disabled, in every state. When a run runs out of memory it offers to start it again with
the usual fix applied.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox, QPushButton, QVBoxLayout, QWidget

from studio.core import protocol, runs
from studio.core.hang_watch import HangWatch
from studio.core.job_schema import JobError, job_from_dict
from studio.gui import run_launcher
from studio.gui.app_state import AppState
from studio.gui.run_follower import RunFollower
from studio.gui.run_states import CANCEL, CHECKPOINT, PAUSE, STOP, RunState
from studio.gui.widgets.run_view import RunView


def oom_fix(job: dict[str, Any]) -> dict[str, Any]:
    """The job changed the way that saves most for least: gradient checkpointing on,
    then half the batch with twice the accumulation (same effective batch); a batch of
    1 can't shrink, so its rows get half as long instead."""
    fixed = json.loads(json.dumps(job))
    training = fixed.setdefault("training", {})
    batch = int(training.get("batch_size", 4))
    if batch > 1:
        training["batch_size"] = batch // 2
        training["grad_accum"] = int(training.get("grad_accum", 1)) * 2
    else:
        training["max_length"] = max(128, int(training.get("max_length", 512)) // 2)
    training["gradient_checkpointing"] = True
    training.pop("resume_from", None)  # a new run starts fresh
    return fixed


HUNG_TITLE = "The worker may be hung"


class MonitorPage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.run_dir: Path | None = None
        self.follower: RunFollower | None = None
        self.view = RunView()
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Hold between steps, keeping the model in memory")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Finish the current step, save the adapter and a checkpoint, then end")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("End at once and save nothing")
        self.checkpoint_button = QPushButton("Checkpoint now")
        self.checkpoint_button.setToolTip("Save a resumable checkpoint after the current step")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop_run)
        self.cancel_button.clicked.connect(lambda: self.cancel_run(confirm=True))
        self.checkpoint_button.clicked.connect(self.checkpoint_now)
        for button in self._buttons():
            self.view.header.controls.addWidget(button)
        self.view.header.state_changed.connect(self._sync_controls)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.view.reset(None, live=False)
        self.view.header.title.setText("No run yet")
        self.view.header.set_detail("Start one on the Train page, or open one from Runs.")
        self._sync_controls()
        # A worker whose training loop stops (deadlock, dead GPU) still sends system events:
        # watch for progress, and offer to end it.
        self.hang = HangWatch(state.settings.hang_timeout_s)
        self.hang_timer = QTimer(self)
        self.hang_timer.setInterval(1000)
        self.hang_timer.timeout.connect(self._check_hang)

    # -- following ---------------------------------------------------------------
    def follow(self, run_dir: Path) -> None:
        """Show ``run_dir`` from its first event on, and keep following it while it runs."""
        self._drop_follower()
        self.run_dir = Path(run_dir)
        self.view.reset(self.run_dir, live=True)
        follower = RunFollower(self.run_dir, parent=self)
        follower.events.connect(self._on_events)
        follower.log.connect(self.view.add_log)
        follower.bad_line.connect(self.view.add_bad_line)
        follower.finished.connect(self._on_finished)
        self.follower = follower
        self._sync_controls()
        self.hang = HangWatch(self.state.settings.hang_timeout_s)
        self.hang_timer.start()
        follower.start()

    def active_run(self) -> Path | None:
        """The run being followed while its worker lives, else None."""
        if self.follower is None or self.follower.done:
            return None
        return self.run_dir

    def worker_pid(self) -> int | None:
        return self.view.hello.pid if self.view.hello is not None else None

    def _on_events(self, events: list[protocol.Event]) -> None:
        for event in events:
            self.hang.seen(event)
        if self.hang.reported is False and self.view.banner.title.text() == HUNG_TITLE:
            self.view.banner.clear()  # it moved again
        self.view.add_events(events)  # the header's state moves; state_changed enables the buttons

    def _check_hang(self) -> None:
        idle = self.hang.stalled_for()
        if idle is None or self.hang.reported or self.active_run() is None:
            return
        self.hang.reported = True
        self.view.banner.show_message(
            "warning", HUNG_TITLE, self.hang.stall(idle).capitalize() + ".",
            "Wait if a step can take this long; otherwise end it: the last checkpoint is kept.")
        self.view.banner.set_action("End the worker", self.kill_hung_worker,
                                    "Cancel the run and end its worker process; the last checkpoint is kept")

    def kill_hung_worker(self) -> None:
        """Cancel through the control socket; a worker too stuck to answer is killed."""
        if self.active_run() is None:
            return
        if run_launcher.send(self.run_dir, "cancel") is not None and (pid := self.worker_pid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.view.header.command("cancel")
        self.view.header.set_detail("Ending the worker…")

    def _on_finished(self, status: str, final: object) -> None:
        self.hang_timer.stop()
        self.view.finish(status, final if isinstance(final, protocol.Event) else None)
        self._sync_controls()
        final = self.view.final
        if isinstance(final, protocol.Error) and final.kind == "oom":
            self.view.banner.set_action("Re-run with the fix", self.rerun_with_fix,
                                        "Start the same job again with gradient checkpointing on and half the "
                                        "batch size with twice the gradient accumulation (or half the max length "
                                        "at batch size 1)")

    def _drop_follower(self) -> None:
        if self.follower is not None:
            self.follower.dispose()
            self.follower = None

    # -- commands ----------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.view.header.state is RunState.PAUSED

    def toggle_pause(self) -> None:
        if not self.pause_button.isEnabled():
            return  # the shortcut, in a state where pausing does nothing
        command = "resume" if self.paused else "pause"
        if self._send(command):
            self.view.header.command(command)

    def stop_run(self) -> bool:
        """Finish the current step, save, and end (the safe way out); False if the worker
        could not be told (the banner says why)."""
        if self.active_run() is not None and self._send("stop"):
            self.view.header.command("stop")
            self.view.header.set_detail("Stopping after this step; the adapter will be saved…")
            return True
        return False

    def cancel_run(self, confirm: bool = True) -> None:
        """End at once, saving nothing; asks first unless ``confirm`` is False."""
        if self.active_run() is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self, "Cancel the run?", f"Cancel {self.run_dir.name} now? Nothing of it will be saved "
                "(Stop saves the adapter first).",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        if self._send("cancel"):
            self.view.header.command("cancel")
            self.view.header.set_detail("Cancelling…")

    def checkpoint_now(self) -> None:
        if self.checkpoint_button.isEnabled() and self._send("checkpoint"):
            self.view.header.set_detail("A checkpoint will be saved after this step")

    def _send(self, cmd: str) -> bool:
        run_dir = self.active_run()
        if run_dir is None:
            return False
        # The worker's socket thread answers at once; the 2 s timeout only bites on a hung worker.
        problem = run_launcher.send(run_dir, cmd)
        if problem is not None:
            self.view.banner.show_message("warning", f"Could not {cmd} the run", problem)
            return False
        return True

    def _sync_controls(self, _state: str = "") -> None:
        """Each button enabled where it acts (gui.run_states.ENABLED), and Pause read as Resume
        while paused."""
        states = self.view.header.states
        for control, button in zip((PAUSE, STOP, CANCEL, CHECKPOINT), self._buttons(), strict=True):
            button.setEnabled(states.enabled(control))
        self.pause_button.setText("Resume" if self.paused else "Pause")

    def _buttons(self) -> tuple[QPushButton, ...]:
        return self.pause_button, self.stop_button, self.cancel_button, self.checkpoint_button

    # -- out of memory -------------------------------------------------------------
    def rerun_with_fix(self) -> Path | None:
        """Start the run's job again with the out-of-memory fix, and follow the new run."""
        if self.run_dir is None:
            return None
        try:
            job = job_from_dict(oom_fix(json.loads((self.run_dir / runs.JOB_NAME).read_text(encoding="utf-8"))))
            new_run = run_launcher.start_run(job)
        except (OSError, ValueError, JobError, run_launcher.LaunchError) as exc:
            self.view.banner.show_message("error", "Could not start the run again", str(exc))
            return None
        self.state.run_started.emit(str(new_run))  # the main window follows it and shows this page
        if self.run_dir != new_run:
            self.follow(new_run)
        return new_run
