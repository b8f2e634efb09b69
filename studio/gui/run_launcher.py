"""Start a worker for a job, detached from the window, and send it commands.

The worker runs in its own session with no pipes to the window: it writes every
event to its run folder's ``events.jsonl`` and listens on ``control.sock``. The
window follows the file and speaks through the socket, so closing the window
never kills a run, and a window opened later controls it exactly as well.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QProcess

from studio.core import atomic, control_client, paths, runs
from studio.core.job_schema import dumps
from studio.core.jobs import Job
from studio.core.processes import module_argv
from studio.core.queue import runner
from studio.core.queue.store import queue_dir


class LaunchError(RuntimeError):
    pass


def worker_argv(job_path: Path, run_dir: Path) -> list[str]:
    return module_argv("studio.worker", str(job_path), "--run-dir", str(run_dir))


def start_run(job: Job, label: str = "") -> Path:
    """Create a run folder, write the job, start the worker; returns the run folder."""
    run_dir = runs.create_run_dir(label or Path(getattr(getattr(job, "model", None), "path", "run")).stem)
    job_path = run_dir / runs.JOB_NAME
    atomic.write_text(job_path, dumps(job))
    # The worker keeps worker.log itself once it runs; anything it prints before that
    # (a broken install, an import error) lands here instead of nowhere.
    _start_detached(worker_argv(job_path, run_dir), None, run_dir / runs.LAUNCH_LOG_NAME, "the worker")
    return run_dir


def start_queue_runner() -> bool:
    """Start the run queue's runner (core.queue.runner) detached, where one is wanted: it
    outlives the window, and a window opened later finds the queue going."""
    if not runner.wanted():
        return False
    log = queue_dir() / runner.LOG_NAME
    _start_detached(runner.background_argv(), log, log, "the queue's runner")
    return True


def sweep_argv(sweep_file: Path) -> list[str]:
    return module_argv("studio", "sweep", str(sweep_file))


def start_sweep(sweep_file: Path) -> None:
    """Run (or resume) a sweep in a driver process of its own (core.sweeps.driver): it outlives
    the window, its trials go through the queue; its lines go to <home>/sweeps/driver.log."""
    folder = paths.home() / "sweeps"
    folder.mkdir(parents=True, exist_ok=True, mode=paths.PRIVATE_DIR)
    log = folder / "driver.log"
    _start_detached(sweep_argv(sweep_file), log, log, "the sweep")


def _start_detached(argv: list[str], stdout: Path | None, stderr: Path, what: str) -> None:
    """A process in its own session, no pipes to the window (Qt reaps nothing: it is not our child)."""
    process = QProcess()
    process.setProgram(argv[0])
    process.setArguments(argv[1:])
    process.setStandardInputFile(QProcess.nullDevice())
    if stdout is None:
        process.setStandardOutputFile(QProcess.nullDevice())
    else:
        process.setStandardOutputFile(str(stdout), QProcess.OpenModeFlag.Append)
    process.setStandardErrorFile(str(stderr), QProcess.OpenModeFlag.Append)
    started = process.startDetached()  # PySide6 returns a bool here, though its stubs say (ok, pid)
    ok = started[0] if isinstance(started, tuple) else bool(started)
    if not ok:
        raise LaunchError(f"could not start {what}: {process.errorString()}")


def send(run_dir: Path, cmd: str) -> str | None:
    """Send a command; returns None on success, else what went wrong (for the UI)."""
    try:
        reply = control_client.send_command(run_dir, cmd, timeout_s=2.0)
    except OSError as exc:
        return f"the worker is not reachable ({exc.strerror or exc})"
    except ValueError as exc:  # a garbled reply
        return f"the worker answered something unreadable ({exc})"
    return None if reply.get("ok") else str(reply.get("error", "refused"))
