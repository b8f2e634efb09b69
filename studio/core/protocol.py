"""The worker protocol: typed events (worker → GUI/CLI) and commands (GUI/CLI → worker).

One JSON object per line. Every event carries ``v`` (protocol version), ``type`` and
``t`` (unix time). Readers ignore fields they don't know, so a newer worker can add
fields without breaking an older GUI; a different *major* version is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from studio.core.records import Record

PROTOCOL_VERSION = 1

# Exit statuses of the worker (DESIGN.md).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_JOB = 2
EXIT_DATA = 3
EXIT_OOM = 4
EXIT_CANCELLED = 5
EXIT_DISK_FULL = 6  # not in DESIGN.md's list: a full disk needs space, then --resume, not a changed job

ErrorKind = Literal["config", "data", "model", "oom", "cancelled", "disk_full", "internal"]
EXIT_FOR_ERROR: dict[str, int] = {
    "config": EXIT_BAD_JOB,
    "data": EXIT_DATA,
    "model": EXIT_INTERNAL,
    "oom": EXIT_OOM,
    "cancelled": EXIT_CANCELLED,
    "disk_full": EXIT_DISK_FULL,
    "internal": EXIT_INTERNAL,
}


class ProtocolError(ValueError):
    """A line that is not a valid event or command."""


@dataclass
class Event:
    type: ClassVar[str] = ""
    t: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "t"}
        return {"v": PROTOCOL_VERSION, "type": self.type, "t": self.t, **body}


@dataclass
class Hello(Event):
    type: ClassVar[str] = "hello"
    pid: int
    versions: dict[str, str | None] = field(default_factory=dict)
    devices: list[dict[str, Any]] = field(default_factory=list)
    run_dir: str | None = None


@dataclass
class Phase(Event):
    """What the worker is doing now. DESIGN.md lists loading_model, preparing_data, training,
    evaluating and saving; workers also send compiling (torch.compile's first step), paused
    (held by a pause command; the next step resumes), stopping (a stop was asked: the final
    evaluation and the save follow), merging, and for serve and eval jobs ready, answering,
    generating and scoring. ``done``/``total`` count the phase's own units where it has them
    (steps, eval batches, tensors, rows); readers show any name they don't know as it is."""

    type: ClassVar[str] = "phase"
    name: str
    done: int | None = None
    total: int | None = None
    detail: str | None = None


@dataclass
class Step(Event):
    type: ClassVar[str] = "step"
    step: int
    total_steps: int
    epoch: float
    loss: float
    lr: float
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    # A preference or GRPO stage's numbers for the step, as TRL names them (None for sft): rewards/chosen,
    # rewards/rejected, rewards/margins, rewards/accuracies, logps/chosen, logps/rejected; GRPO's reward,
    # reward_std, rewards/<reward>/mean, completions/mean_length, kl, entropy.
    preference: dict[str, float] | None = None


@dataclass
class Eval(Event):
    type: ClassVar[str] = "eval"
    step: int
    eval_loss: float
    perplexity: float | None  # None for a preference stage: exp of its loss is no perplexity
    preference: dict[str, float] | None = None  # as Step's, on the held-out pairs


@dataclass
class System(Event):
    type: ClassVar[str] = "system"
    gpus: list[dict[str, Any]] = field(default_factory=list)
    cpu_percent: float = 0.0  # the whole machine's
    rss_bytes: int = 0
    worker_cpu_percent: float | None = None  # the worker's own (with its rank processes), % of all cores


@dataclass
class Sample(Event):
    type: ClassVar[str] = "sample"
    step: int
    prompt: str
    text: str
    adapter: str | None = None  # which model answered, for generate jobs ("base" or a name)


@dataclass
class Completions(Event):
    """A few of a GRPO step's sampled answers with their rewards (every grpo.sample_steps steps)."""
    type: ClassVar[str] = "completions"
    step: int
    # Each {"prompt": str, "completion": str, "rewards": {reward label: score or None}, "total": float}.
    samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Checkpoint(Event):
    type: ClassVar[str] = "checkpoint"
    step: int
    path: str


@dataclass
class Warning(Event):
    type: ClassVar[str] = "warning"
    message: str


@dataclass
class Token(Event):
    """New text of an answer being generated (streamed as it is produced)."""
    type: ClassVar[str] = "token"
    request: str
    adapter: str
    text: str


@dataclass
class Answer(Event):
    """One finished answer of a generate request or job."""
    type: ClassVar[str] = "answer"
    request: str
    adapter: str
    prompt: str
    text: str
    tokens: int = 0
    seconds: float = 0.0
    first_token_s: float | None = None


@dataclass
class Done(Event):
    type: ClassVar[str] = "done"
    outputs: dict[str, Any] = field(default_factory=dict)  # read with the job's record (core.outputs)


def done(outputs: dict[str, Any] | Record) -> Done:
    """The ``done`` event for a job's outputs: a typed record, or a plain dict for the jobs without one."""
    return Done(outputs=outputs.to_dict() if isinstance(outputs, Record) else outputs)


@dataclass
class Error(Event):
    type: ClassVar[str] = "error"
    kind: ErrorKind
    message: str
    hint: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (Hello, Phase, Step, Eval, System, Sample, Completions, Checkpoint, Warning, Token,
                              Answer, Done, Error)
}
FINAL_EVENTS = ("done", "error")


def encode(event: Event) -> str:
    """One JSON line (with the trailing newline) for ``event``."""
    return json.dumps(_finite(event.to_dict()), ensure_ascii=False, allow_nan=False, default=str) + "\n"


def decode(line: str | bytes) -> Event:
    """Parse one event line; raises :class:`ProtocolError` on anything malformed."""
    data = _parse_object(line)
    version = data.get("v")
    if not isinstance(version, int) or isinstance(version, bool) or version != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {version!r} (this build speaks {PROTOCOL_VERSION})")
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown event type {data.get('type')!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in known}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ProtocolError(f"bad {cls.type} event: {exc}") from None


CommandName = Literal["stop", "cancel", "checkpoint", "pause", "resume", "generate"]
COMMANDS: tuple[str, ...] = ("stop", "cancel", "checkpoint", "pause", "resume", "generate")


def encode_command(cmd: str, **payload: Any) -> str:
    """A command line; ``generate`` carries its request (id, messages, adapters, sampling).
    Any name is checked here (a CLI's or a socket client's string): a ``CommandName`` or an error."""
    if cmd not in COMMANDS:
        raise ProtocolError(f"unknown command {cmd!r}; expected one of {', '.join(COMMANDS)}")
    return json.dumps({"cmd": cmd, **payload}, ensure_ascii=False) + "\n"


def decode_request(line: str | bytes) -> dict[str, Any]:
    """The whole command object (for ``generate``), checked like :func:`decode_command`."""
    data = _parse_object(line)
    decode_command(line)
    if data["cmd"] == "generate":
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            raise ProtocolError("generate needs messages: a list of {role, content}")
        if not isinstance(data.get("id", ""), str):
            raise ProtocolError("generate's id must be a string")
    return data


CANCEL_REASON_CHARS = 300


def cancel_reason(line: str | bytes) -> str:
    """A ``cancel``'s reason, where its sender gave one (a sweep pruning its trial: "pruned by the
    sweep at step 4: ..."); "" for a user's cancel. Plain text, cut to ``CANCEL_REASON_CHARS``."""
    reason = _parse_object(line).get("reason")
    return " ".join(reason.split())[:CANCEL_REASON_CHARS] if isinstance(reason, str) else ""


def cancelled_message(reason: str = "") -> str:
    """What a cancelled run says of itself: its sender's reason, else that the user cancelled it."""
    return f"{reason}; nothing was saved" if reason else "cancelled by the user; nothing was saved"


def decode_command(line: str | bytes) -> str:
    data = _parse_object(line)
    cmd = data.get("cmd")
    if cmd not in COMMANDS:
        raise ProtocolError(f"unknown command {cmd!r}; expected one of {', '.join(COMMANDS)}")
    return cmd


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: send them as null so one bad number never breaks the stream."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _parse_object(line: str | bytes) -> dict[str, Any]:
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"not UTF-8: {exc}") from None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} in {line[:80]!r}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    return data
