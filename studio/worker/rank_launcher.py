"""Start a train job on several processes with torchrun and stand in front of them.

The worker the GUI or CLI started stays the one they talk to: it keeps the run lock,
the control socket, ``events.jsonl`` and the ``system`` events (NVML sees every GPU).
It relays rank 0's events and passes commands to rank 0's stdin; rank 0 shares them
with the other ranks at each step end (engine.distributed.agree). A rank that fails
reports its own error; a rank that dies without a word ends the run with an error
naming torchrun's account of it. Cancel ends every process at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio.core import launch_plan, protocol, runs
from studio.core.jobs import TrainJob
from studio.core.outputs import TrainOutputs
from studio.core.processes import die_with_parent
from studio.engine.control import JobControl

log = logging.getLogger(__name__)
Emit = Callable[[protocol.Event], None]
STOP_GRACE_S = 15.0


class RankFailed(Exception):
    """A rank's own error event, or one written for a rank that died silently."""

    def __init__(self, error: protocol.Error):
        super().__init__(error.message)
        self.error = error


def run_ranks(job: TrainJob, run_dir: Path, plan: launch_plan.LaunchPlan, emit: Emit,
              control: JobControl) -> TrainOutputs:
    """Run ``job`` under torchrun; returns rank 0's ``done`` outputs or raises RankFailed."""
    argv = launch_plan.torchrun_command(plan, sys.executable, str(Path(run_dir) / runs.JOB_NAME), str(run_dir))
    emit(protocol.Phase("loading_model", detail=f"starting {plan.describe()}"))
    log.info("launching: %s", " ".join(argv))
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8", errors="replace", env=launch_plan.rank_environment(plan),
                            start_new_session=True, preexec_fn=die_with_parent)
    stderr_tail: list[str] = []
    copier = threading.Thread(target=_copy_stderr, args=(proc, stderr_tail), name="ranks-stderr", daemon=True)
    copier.start()
    cancelled = threading.Event()

    def forward(cmd: str) -> None:
        if cmd == "cancel":
            cancelled.set()
        _forward(proc, cmd)

    control.add_listener(forward)
    final: protocol.Event | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            event = protocol.decode(line)
        except protocol.ProtocolError:
            log.warning("ranks wrote a line that is not an event: %r", line[:200])
            continue
        if isinstance(event, protocol.Hello):
            continue
        if event.type in protocol.FINAL_EVENTS:
            if final is None:
                final = event  # torchrun ends the other ranks when one fails
            continue
        emit(event)
    code = proc.wait()
    copier.join(timeout=10)  # torchrun's root-cause summary is the last thing it writes
    if cancelled.is_set():
        from studio.engine.control import Cancelled

        raise Cancelled()
    if isinstance(final, protocol.Done):
        return TrainOutputs.from_dict(final.outputs, "the ranks' done event")
    death = _root_cause(stderr_tail)
    if isinstance(final, protocol.Error) and not (death and death.killed and not final.message.startswith(
            f"process {death.rank} of")):
        raise RankFailed(final)  # a rank's own account (its exception) is the clearest one
    # A rank killed from outside (the kernel's OOM killer, a user, a crash) says nothing;
    # the others then fail in their next collective: torchrun's root cause is the truth.
    after = f"; then {final.message}" if isinstance(final, protocol.Error) else ""
    raise RankFailed(protocol.Error(
        kind="internal", message=f"{death.describe() if death else f'a training process died (torchrun exit {code})'}"
                                 f"{after}",
        hint="see worker.log in the run folder; a killed process often means the machine ran out of RAM"))


def _forward(proc: subprocess.Popen, cmd: str) -> None:
    if cmd == "cancel":
        _terminate(proc, wait=True)  # cancel saves nothing: end every rank before the worker exits
        return
    if proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        proc.stdin.write(protocol.encode_command(cmd))
        proc.stdin.flush()


def _terminate(proc: subprocess.Popen, wait: bool = False) -> None:
    """SIGTERM to torchrun (it passes it to every rank), SIGKILL to the group if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)

    def reap() -> None:
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    if wait:
        reap()
    else:
        threading.Thread(target=reap, name="ranks-reaper", daemon=True).start()


def _copy_stderr(proc: subprocess.Popen, tail: list[str]) -> None:
    """torchrun's and the ranks' stderr into worker.log (our stderr is teed there)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        sys.stderr.write(line)
        tail.append(line)
        del tail[:-200]


@dataclass(frozen=True)
class Death:
    rank: int
    exit_code: int
    signal_name: str

    @property
    def killed(self) -> bool:
        return self.exit_code < 0

    def describe(self) -> str:
        how = f"was killed by {self.signal_name}" if self.killed else f"exited with code {self.exit_code}"
        return f"rank {self.rank} {how} (exit {self.exit_code})"


_ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)[^\n]*?(SIG[A-Z]+)?\)?\s*$",
                         re.S | re.M)


def _root_cause(tail: list[str]) -> Death | None:
    """torchrun's 'Root Cause (first observed failure)': which rank, how it ended."""
    match = _ROOT_CAUSE.search("".join(tail))
    if not match:
        return None
    rank, code, sig = match.groups()
    return Death(int(rank), int(code), sig or "a signal")
