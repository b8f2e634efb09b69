"""The GUI's side of a compare worker: start it once, send requests, route streamed text.

One ``serve`` worker per base model stays alive between prompts (it loads adapters
the first time a request names them), so only the first prompt pays for loading.
Its events arrive through a RunFollower on its run folder; ``token`` and ``answer``
events are handed on by request id and model label.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core import control_client, protocol, runs
from studio.core.job_schema import job_from_dict
from studio.core.jobs import SamplingSettings
from studio.gui import run_launcher
from studio.gui.run_follower import RunFollower

_ids = itertools.count(1)


def sampling_help(name: str) -> str:
    """The help text of a SamplingSettings field, for the tooltip of its box (core.jobs has it)."""
    return str(next(f for f in dataclasses.fields(SamplingSettings) if f.name == name).metadata.get("help", ""))


class CompareSession(QObject):
    token = Signal(str, str, str)  # request, model label, text
    answer = Signal(object)  # protocol.Answer
    ready = Signal()
    ended = Signal(str)  # why: a message for the user
    warning = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.base: str | None = None
        self.run_dir: Path | None = None
        self.follower: RunFollower | None = None
        self.is_ready = False
        self._queued: list[dict] = []

    def ensure(self, base: str, idle_timeout_s: float = 900.0) -> None:
        """A live worker for ``base`` (the one running, or a new one)."""
        if self.run_dir is not None and self.base == base and runs.is_locked(self.run_dir):
            return
        if self.run_dir is not None and self.base != base:
            self.stop()
        job = job_from_dict({"kind": "serve", "model": {"path": base}, "idle_timeout_s": idle_timeout_s})
        self.base, self.is_ready = base, False
        self.run_dir = run_launcher.start_run(job, label="compare")
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

    def stop(self) -> None:
        if self.run_dir is not None and runs.is_locked(self.run_dir):
            run_launcher.send(self.run_dir, "stop")
        if self.follower is not None:
            self.follower.dispose()
        self.follower, self.run_dir, self.is_ready, self._queued = None, None, False, []

    def _send(self, request: dict) -> None:
        assert self.run_dir is not None
        try:
            control_client.send_command(self.run_dir, "generate", timeout_s=5.0,
                                        **{k: v for k, v in request.items()})
        except (OSError, ValueError) as exc:
            self.warning.emit(f"the compare worker is not reachable ({exc})")

    def _on_events(self, events: list[protocol.Event]) -> None:
        for event in events:
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
        if self.follower is not None:
            self.follower.dispose()
        self.follower, self.run_dir, self.is_ready = None, None, False
        self.ended.emit(message)
