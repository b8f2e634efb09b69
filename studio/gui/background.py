"""Run short blocking work (a model scan, a dataset load) off the GUI thread.

A page calls ``run_in_background(fn, *args, on_done=..., on_error=...)``; ``fn`` runs
on ``QThreadPool.globalInstance()`` and its result (or exception) comes back through
a Qt signal, so the callbacks always run on the GUI thread. The relay object that
carries the signals lives on the GUI thread and is kept in a module-level set until
its result is delivered, so neither it nor the task is garbage-collected mid-flight.
A callback bound to a widget (a method, a functools.partial of one, or a lambda that
closes over one) that was deleted in the meantime is skipped, not called.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

_in_flight: set[BackgroundTask] = set()


class BackgroundTask(QObject):
    """One call in flight. ``finished`` fires (on the GUI thread) after either callback ran."""

    succeeded = Signal(object)  # the result
    failed = Signal(object)  # the exception
    finished = Signal()

    def __init__(self, on_done: Callable[[Any], None], on_error: Callable[[BaseException], None] | None):
        super().__init__()
        self._on_done = on_done
        self._on_error = on_error
        # Emitted from the pool thread; the relay lives on the GUI thread, so Qt queues them.
        self.succeeded.connect(self._deliver_result)
        self.failed.connect(self._deliver_error)

    @Slot(object)
    def _deliver_result(self, result: Any) -> None:
        try:
            if _alive(self._on_done):
                self._on_done(result)
        finally:
            self._finish()

    @Slot(object)
    def _deliver_error(self, error: BaseException) -> None:
        try:
            if self._on_error is None:
                log.error("background task failed", exc_info=error)
            elif _alive(self._on_error):
                self._on_error(error)
        finally:
            self._finish()

    def _finish(self) -> None:
        _in_flight.discard(self)
        self.finished.emit()


class _Runnable(QRunnable):
    def __init__(self, task: BackgroundTask, fn: Callable[..., Any], args: tuple, kwargs: dict):
        super().__init__()
        self._task, self._fn, self._args, self._kwargs = task, fn, args, kwargs

    def run(self) -> None:
        try:
            result = self._fn(*self._args, **self._kwargs)
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, never raised in a pool thread
            self._deliver(self._task.failed, exc)
        else:
            self._deliver(self._task.succeeded, result)

    @staticmethod
    def _deliver(signal, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # "Signal source has been deleted": the app quit while this ran
            log.debug("a background result arrived after the app closed; dropped")


def run_in_background(fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None],
                      on_error: Callable[[BaseException], None] | None = None,
                      **kwargs: Any) -> BackgroundTask:
    """Start ``fn(*args, **kwargs)`` on the thread pool; call ``on_done(result)`` or
    ``on_error(exception)`` on the GUI thread. Call this from the GUI thread."""
    task = BackgroundTask(on_done, on_error)
    _in_flight.add(task)
    QThreadPool.globalInstance().start(_Runnable(task, fn, args, kwargs))
    return task


def tasks_in_flight() -> int:
    """How many results have not been delivered yet (tests wait for 0)."""
    return len(_in_flight)


def _alive(callback: Callable[..., Any]) -> bool:
    """No widget the callback belongs to or closes over (``lambda r: self._show(r)``) was deleted."""
    while isinstance(callback, functools.partial):
        callback = callback.func
    owners = [getattr(callback, "__self__", None)]
    for cell in getattr(callback, "__closure__", None) or ():
        try:
            owners.append(cell.cell_contents)
        except ValueError:  # a cell not filled yet
            continue
    return all(shiboken6.isValid(owner) for owner in owners if isinstance(owner, QObject))
