"""A run folder deleted under a live worker is made again, so the run's end is on record.

Deleting it mid-run (a clean-up, a mistaken ``rm -r``) left the worker training into the
folders the Trainer re-creates, with no job.json, events, lock or control socket: `runs`
said "the worker died" of a run that then landed in the library, and `lora-studio stop`
found nobody (issue 22). Every few seconds the worker looks for its job.json; when it is
gone, the folder is written again (job.json, the lock, a new events file, the control
socket) with a warning that what was in it before is gone, and the run goes on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from studio.core import atomic, paths, protocol, runs
from studio.worker.emitter import Emitter

log = logging.getLogger(__name__)
CHECK_S = 2.0  # how often the folder is looked for: one stat, cheap beside a training step


class RunFolderWatch:
    def __init__(self, run_dir: Path, job_text: str, emit: Emitter, relisten: Callable[[], None]):
        self.run_dir = Path(run_dir)
        self.job_text = job_text
        self.emit = emit
        self.relisten = relisten  # binds the control socket again
        self._lock: IO[str] | None = None
        self._stopped = threading.Event()

    def start(self) -> RunFolderWatch:
        threading.Thread(target=self._watch, name="run-folder-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()

    def _watch(self) -> None:
        while not self._stopped.wait(CHECK_S):
            try:
                self.check()
            except Exception:  # a watch that fails must not end the run (logged with its traceback)
                log.exception("could not make the run folder again")

    def check(self) -> bool:
        """Make the folder again if it was deleted; True when it was."""
        if (self.run_dir / runs.JOB_NAME).exists():
            return False
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=paths.PRIVATE_DIR)
        atomic.write_text(self.run_dir / runs.JOB_NAME, self.job_text)
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()
        self._lock = runs.take_lock(self.run_dir)  # `runs` and the GUI see it live again
        self.emit.reopen(self.run_dir / runs.EVENTS_NAME, protocol.Warning(
            f"the run folder {self.run_dir} was deleted while the run went on; it was made again: the "
            "events and checkpoints written before are gone (so is worker.log), the run trains on and "
            "saves its adapter there"))
        self.relisten()
        log.warning("the run folder %s was deleted; made it again", self.run_dir)
        return True
