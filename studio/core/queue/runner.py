"""The queue's runner: starts each waiting job when the devices it needs are free.

One runner per home (a lock in ``<home>/queue/runner.lock``). Its workers run in their
own sessions, as a run started from the app does, so killing the runner (or the app
that started it) kills no run: the next runner finds each running entry's worker by
its pid (checked against its command line, so a reused pid is not mistaken for it) or
by the run's lock, and follows it to its end. Nothing is started twice: an entry is
claimed in a transaction before its worker starts, and an entry a killed runner left
``starting`` is started only when no worker for its run folder exists and the folder
has no events. The run folder's events say how a job ended, as for any other run.

A runner started for the queue (``start_in_background``) exits when nothing is left to
start or follow; adding a job starts one again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import psutil

from studio.core import atomic, control_client, runs
from studio.core.processes import module_argv
from studio.core.queue import devices
from studio.core.queue.store import (
    ACTIVE,
    DB_NAME,
    PRUNED,
    Entry,
    QueueError,
    QueueStore,
    queue_dir,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "runner.lock"
LOG_NAME = "runner.log"
START_GRACE_S = 30.0  # a worker found neither alive nor in its folder this soon after its start is still starting


class RunnerBusy(RuntimeError):
    pass


class QueueRunner:
    def __init__(self, store: QueueStore, poll_s: float = 1.0, exit_when_idle: bool = True,
                 say: Callable[[str], None] = lambda _text: None):
        self.store = store
        self.poll_s = poll_s
        self.exit_when_idle = exit_when_idle
        self.say = say
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._lock: IO[str] | None = None

    # -- the loop ---------------------------------------------------------------------------

    def run(self, max_s: float | None = None) -> None:
        """Run the queue until it is idle (or forever, or ``max_s``); raises RunnerBusy when
        another runner has the queue."""
        if not self._take_lock():
            raise RunnerBusy(f"another queue runner is running (pid {runner_pid() or '?'})")
        began = time.monotonic()
        try:
            while True:
                self.tick()
                if max_s is not None and time.monotonic() - began > max_s:
                    return
                if self.exit_when_idle and self.idle():
                    # Let go, then look once more: a job added while this runner was deciding to
                    # exit saw the lock held and started no runner of its own.
                    self._release_lock()
                    if not self.has_work() or not self._take_lock():
                        return
                    continue
                time.sleep(self.poll_s)
        finally:
            self._release_lock()

    def tick(self) -> None:
        """Follow every started entry, then start what fits."""
        for entry in self.store.entries(ACTIVE):
            self._follow(entry)
        if not self.store.paused:
            self._start_what_fits()

    def idle(self) -> bool:
        return not self.store.entries(ACTIVE) and not self.has_work()

    def has_work(self) -> bool:
        return not self.store.paused and bool(self.store.entries(("queued",)))

    # -- starting ---------------------------------------------------------------------------

    def _start_what_fits(self) -> None:
        slots = devices.all_slots()
        active = self.store.entries(ACTIVE)
        busy = {slot for e in active for slot in e.devices.split(",") if slot}
        busy |= devices.held_by_other_runs({e.run_dir for e in active})
        reserved: set[str] = set()  # slots an earlier waiting job waits for: a later one may not take them
        for entry in self.store.entries(("queued",)):
            need = devices.need_of(entry.job_data(), devices.gpu_slots())
            missing = [s for s in need.exact if s not in slots]
            if missing:
                self.store.fail_waiting(entry.id, f"needs GPU {','.join(missing)}; this machine has "
                                      f"{', '.join(devices.gpu_slots()) or 'no GPU'}")
                continue
            given = devices.choose(need, [s for s in slots if s not in busy and s not in reserved])
            if given is None:
                reserved.update(need.exact)
                continue
            self._start(entry, need, given)
            busy.update(given)

    def _start(self, entry: Entry, need: devices.Need, given: tuple[str, ...]) -> None:
        run_dir = runs.create_run_dir(entry.label)
        atomic.write_text(run_dir / runs.JOB_NAME, entry.job)
        if not self.store.mark_starting(entry.id, ",".join(given), run_dir):
            return  # cancelled or moved on in the meantime: the empty folder says nothing ran
        self._spawn(self.store.get(entry.id), devices.worker_environment(need, given))

    def _spawn(self, entry: Entry, env: dict[str, str]) -> None:
        run_dir = Path(entry.run_dir)
        with open(run_dir / runs.LAUNCH_LOG_NAME, "ab") as log:
            child = subprocess.Popen(
                module_argv("studio.worker", str(run_dir / runs.JOB_NAME), "--run-dir", str(run_dir)),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, start_new_session=True)
        self._children[entry.id] = child
        self.store.mark_running(entry.id, child.pid)
        where = entry.devices if entry.devices != devices.CPU else "the CPU"
        self.say(f"#{entry.id} {entry.label}: started on {where}, run {run_dir.name}")

    # -- following --------------------------------------------------------------------------

    def _follow(self, entry: Entry) -> None:
        run_dir = Path(entry.run_dir)
        child = self._children.get(entry.id)
        if child is not None:
            alive = child.poll() is None
        else:
            alive = worker_alive(entry.pid, run_dir) or runs.is_locked(run_dir)
            if not alive and entry.state == "starting" and entry.pid is None:
                self._restart_or_adopt(entry)
                return
        if alive:
            self._progress(entry)
            return
        self._children.pop(entry.id, None)
        if time.time() - (entry.started_t or 0) < START_GRACE_S and child is None \
                and not (run_dir / runs.EVENTS_NAME).exists():
            return  # a worker a killed runner started a moment ago may not have its lock yet
        summary = runs.summarize(run_dir)
        if summary.status == "running":
            return
        self._progress(entry)  # where it got to: a short job can end between two looks
        message = summary.message
        if summary.status == "failed" and "died" in message:  # a worker that never spoke: what it printed
            message = f"{message}: {_last_line(run_dir / runs.LAUNCH_LOG_NAME)}".rstrip(": ")
        if ended := self.store.mark_ended(entry.id, summary.status, message):
            self.say(f"#{entry.id} {entry.label}: {ended.state}" + (f" ({ended.message})" if ended.message else ""))
            if ended.state == "failed" and self.store.stop_on_failure:
                self.store.set_paused(True, f"#{entry.id} failed and the queue stops on a failure")

    def _restart_or_adopt(self, entry: Entry) -> None:
        """A runner was killed between claiming this entry and recording its worker."""
        run_dir = Path(entry.run_dir)
        pid = find_worker(run_dir)
        if pid is not None:
            self.store.mark_running(entry.id, pid)
        elif not (run_dir / runs.EVENTS_NAME).exists():
            need = devices.need_of(entry.job_data(), devices.gpu_slots())
            self._spawn(entry, devices.worker_environment(need, tuple(s for s in entry.devices.split(",") if s)))

    def _progress(self, entry: Entry) -> None:
        step = runs.last_event(Path(entry.run_dir), "step")
        if not step:
            return
        eta = step.get("eta_s")
        eta = float(eta) if isinstance(eta, (int, float)) else None
        current = (int(step.get("step") or 0), int(step.get("total_steps") or 0))
        if current != (entry.step, entry.total_steps) or eta != entry.eta_s:
            self.store.mark_progress(entry.id, *current, eta)

    # -- the lock ---------------------------------------------------------------------------

    def _take_lock(self) -> bool:
        handle = open(queue_dir() / LOCK_NAME, "a+")
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle
        return True

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def runner_pid() -> int | None:
    """The live runner's pid, or None when no runner holds the queue."""
    lock = queue_dir() / LOCK_NAME
    if not lock.exists() or fcntl is None:
        return None
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None


def wanted() -> bool:
    """A runner should be started: the queue has work or runs to follow, and none runs."""
    if not (queue_dir(make=False) / DB_NAME).exists() or runner_pid() is not None:
        return False
    with QueueStore() as store:
        return bool(store.entries(ACTIVE)) or (not store.paused and bool(store.entries(("queued",))))


def background_argv() -> list[str]:
    """The runner's command line; its output goes to ``<home>/queue/runner.log``."""
    return module_argv("studio", "queue", "run")


def start_in_background() -> bool:
    """Start a runner in its own session where one is wanted; True when one was started. (The
    app starts it detached through Qt instead: the same command, no child left to reap.)"""
    if not wanted():
        return False
    with open(queue_dir() / LOG_NAME, "ab") as log:
        subprocess.Popen(background_argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return True


def cancel(store: QueueStore, entry_id: int, pruned: str = "") -> str:
    """Cancel a waiting entry, or tell a started one's worker to cancel (nothing is saved).
    ``pruned``: a sweep's reason for giving up on its trial ("pruned by the sweep at step 4: ...");
    the entry then ends pruned with it, not cancelled by the user (store.ask_to_end)."""
    if store.cancel_waiting(entry_id):
        return f"#{entry_id} cancelled before it started"
    entry = store.get(entry_id)
    if entry.state not in ACTIVE:
        raise QueueError(f"#{entry_id} has already ended ({entry.state})")
    if pruned:  # kept before the worker hears of it: the runner that sees it end may be a later one
        store.ask_to_end(entry_id, PRUNED, pruned)
    what = PRUNED if pruned else "cancelled"
    run_dir = Path(entry.run_dir)
    with contextlib.suppress(ValueError):  # a garbled reply: end it by signal below
        if control_client.cancel(run_dir, reason=pruned):
            return f"#{entry_id} {what}: its worker stopped at once and saved nothing"
    pid = entry.pid if worker_alive(entry.pid, run_dir) else find_worker(run_dir)
    if pid is None and any(runs.last_event(run_dir, kind) for kind in ("done", "error")):
        return f"#{entry_id} had just ended on its own: the queue records how"  # not "while starting"
    if pid is not None:  # still starting (not listening yet): end it where it stands
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    store.mark_ended(entry_id, "cancelled", "cancelled while its worker was starting")
    return f"#{entry_id} {what}"


def worker_alive(pid: int | None, run_dir: Path) -> bool:
    """``pid`` is a live worker of this run folder (not a process that got its pid since)."""
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and str(run_dir) in process.cmdline()
    except (psutil.Error, OSError):
        return False


def find_worker(run_dir: Path) -> int | None:
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(run_dir) in (process.info.get("cmdline") or []) and process.status() != psutil.STATUS_ZOMBIE:
                return int(process.info["pid"])
    return None


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""
    return ""


def log_to(stream: IO[str] = sys.stdout) -> Callable[[str], None]:
    def say(text: str) -> None:
        stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        stream.flush()
    return say

