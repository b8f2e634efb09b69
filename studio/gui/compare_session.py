"""The GUI's side of a compare worker: start it once, send requests, route streamed text.

One ``serve`` worker per base model stays alive between prompts (it loads adapters
the first time a request names them), so only the first prompt pays for loading.
Its events arrive through a RunFollower on its run folder; ``token`` and ``answer``
events are handed on by request id and model label. Until the worker says ``ready`` the
load shows as the app's long-job row (``loading_row``), whose Cancel ends the worker and
drops the prompts waiting for it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from studio.core import control_client, protocol, runs
from studio.core.job_schema import job_from_dict
from studio.core.jobs import SamplingSettings
from studio.gui import run_launcher
from studio.gui.run_follower import RunFollower
from studio.gui.widgets.job_progress import JobProgress
from studio.gui.worker_cancel import WorkerCancel

_ids = itertools.count(1)
LOAD_CANCEL_TIP = ("Stop loading the model: the compare worker ends and the prompts waiting for it are dropped "
                   "(the next prompt loads it again)")


def sampling_help(name: str) -> str:
    """The help text of a SamplingSettings field, for the tooltip of its box (core.jobs has it)."""
    return str(next(f for f in dataclasses.fields(SamplingSettings) if f.name == name).metadata.get("help", ""))


class CompareSession(QObject):
    token = Signal(str, str, str)  # request, model label, text
    answer = Signal(object)  # protocol.Answer
    ready = Signal()
    ended = Signal(str)  # why: a message for the user
    warning = Signal(str)
    refused = Signal(str, str)  # request, why: the worker turned the prompt down, no answer will come
    loading_started = Signal(str)  # "Loading <model>…"
    loading_progress = Signal(str, object, object, float)  # line, done, total (None: no count), event time

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.base: str | None = None
        self.run_dir: Path | None = None
        self.follower: RunFollower | None = None
        self.canceller: WorkerCancel | None = None
        self.is_ready = False
        self._queued: list[dict] = []

    def ensure(self, base: str, idle_timeout_s: float = 900.0) -> None:
        """A live worker for ``base`` (the one running, or a new one)."""
        # Followed until it ends (a worker in its first second holds no lock yet: a second
        # prompt then must not start a second worker).
        if self.run_dir is not None and self.base == base and self.follower is not None:
            return
        if self.run_dir is not None and self.base != base:
            self.stop()
        job = job_from_dict({"kind": "serve", "model": {"path": base}, "idle_timeout_s": idle_timeout_s})
        self.base, self.is_ready = base, False
        self.run_dir = run_launcher.start_run(job, label="compare")
        self.canceller = WorkerCancel(self.run_dir)
        self.loading_started.emit(f"Loading {self.model_name()}…")
        follower = RunFollower(self.run_dir, parent=self)
        follower.events.connect(self._on_events)
        follower.finished.connect(self._on_finished)
        self.follower = follower.start()

    def ask(self, messages: list[dict[str, str]], models: list[str], sampling: dict,
            tools: Sequence[dict[str, Any]] = ()) -> str:
        """Send one prompt to every model in ``models`` ("base" or adapters), with the tool
        definitions it may call; returns its id."""
        request: dict[str, Any] = {"id": f"q{next(_ids)}", "messages": messages, "adapters": models,
                                   "sampling": sampling}
        if tools:
            request["tools"] = list(tools)
        if self.is_ready:
            self._send(request)
        else:
            self._queued.append(request)  # sent once the model is loaded
        return request["id"]

    def model_name(self) -> str:
        return "the bundled model" if self.base == "bundled" else Path(self.base or "").name or str(self.base)

    def loading(self) -> bool:
        return self.run_dir is not None and not self.is_ready

    def cancel_loading(self) -> None:
        """End the worker still loading and drop the prompts waiting for it; ``ended`` follows
        once it is gone (the cancel goes out when it listens, if it does not yet)."""
        if not self.loading() or self.canceller is None:
            return
        self._queued = []
        if problem := self.canceller.request():
            self._cancel_failed(problem)

    def _cancel_failed(self, problem: str) -> None:
        """The worker did not take the cancel: ask it to stop (it will, once loaded) and let it go."""
        name = self.model_name()
        self.stop()
        self.ended.emit(f"Could not cancel loading {name} ({problem}); its worker was asked to stop.")

    def stop(self) -> None:
        if self.run_dir is not None and runs.is_locked(self.run_dir):
            run_launcher.send(self.run_dir, "stop")
        if self.follower is not None:
            self.follower.dispose()
        self.follower, self.run_dir, self.is_ready, self._queued = None, None, False, []
        self.canceller = None

    def _send(self, request: dict) -> None:
        assert self.run_dir is not None
        try:
            reply = control_client.send_command(self.run_dir, "generate", timeout_s=5.0,
                                                **{k: v for k, v in request.items()})
        except (OSError, ValueError) as exc:  # gone, or it hung up mid-prompt (one over its line cap)
            reply = {"ok": False, "error": f"the compare worker is not reachable ({exc})"}
        if not reply.get("ok", False):  # too long a prompt, a bad field: said, and the wait for it ends
            why = f"The prompt was not taken: {reply.get('error', reply)}"
            # Later, not now: ask() sends before its caller has the request's id to match this to.
            QTimer.singleShot(0, lambda: self.refused.emit(str(request.get("id", "")), why))

    def _on_events(self, events: list[protocol.Event]) -> None:
        if self.canceller is not None and (problem := self.canceller.seen(events)):
            self._cancel_failed(problem)
            return
        for event in events:
            if isinstance(event, protocol.Phase) and event.name == "loading_model" and not self.is_ready:
                line = f"Loading {self.model_name()}…" + (f" {event.detail}" if event.total and event.detail else "")
                self.loading_progress.emit(line, event.done, event.total, event.t)
            if isinstance(event, protocol.Token):
                self.token.emit(event.request, event.adapter, event.text)
            elif isinstance(event, protocol.Answer):
                self.answer.emit(event)
            elif isinstance(event, protocol.Phase) and event.name == "ready":
                self.is_ready = True
                self.ready.emit()
                queued, self._queued = self._queued, []
                for request in queued:
                    self._send(request)
            elif isinstance(event, protocol.Warning):
                self.warning.emit(event.message)

    def _on_finished(self, status: str, final: object) -> None:
        message = final.message if isinstance(final, protocol.Error) else f"the compare worker ended ({status})"
        if status == "cancelled" and self.canceller is not None and self.canceller.wanted:
            message = f"Stopped loading {self.model_name()}; the prompts waiting for it were dropped."
        if self.follower is not None:
            self.follower.dispose()
        self.follower, self.run_dir, self.is_ready, self.canceller = None, None, False, None
        self._queued = []  # waiting for a worker that is gone
        self.ended.emit(message)


def loading_row(session: CompareSession) -> JobProgress:
    """The app's long-job row for a compare worker's load: busy (or counting a .gguf's tensors)
    from its start until it is ready or ends; Cancel ends it."""
    row = JobProgress(LOAD_CANCEL_TIP)
    session.loading_started.connect(row.start)
    session.loading_progress.connect(lambda line, done, total, at: row.show_count(line, done, total, "load", at))
    session.ready.connect(row.finish)
    session.ended.connect(lambda _why: row.finish())
    row.cancel_clicked.connect(session.cancel_loading)
    return row
