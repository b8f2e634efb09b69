"""Run folders: naming, the liveness lock, and reading a run's state back.

A run's truth is its folder (``job.json``, ``events.jsonl``, ``worker.log``,
``checkpoints/``, ``adapter/``). Whether a worker is still alive is told by an
advisory lock it holds on ``worker.lock``: the OS drops it when the process dies,
however it dies, so a killed worker can't leave a run looking "running" forever.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from studio.core import paths
from studio.core.outputs import MergeOutputs, TrainOutputs, outputs_for
from studio.core.records import Record

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "worker.lock"
EVENTS_NAME = "events.jsonl"
JOB_NAME = "job.json"
LOG_NAME = "worker.log"
LAUNCH_LOG_NAME = "launch.log"  # the worker's stderr until it opens worker.log (GUI launches)
ADAPTER_NAME = "adapter"
CHECKPOINTS_NAME = "checkpoints"


def new_run_id(label: str = "") -> str:
    """Sortable, unique and safe as a folder name: ``20261125-134501-smollm2-a3f9``."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return "-".join(part for part in (stamp, slug, secrets.token_hex(2)) if part)


def create_run_dir(label: str = "", root: Path | None = None) -> Path:
    root = root or paths.runs_dir()
    for _ in range(10):
        run = root / new_run_id(label)
        try:
            run.mkdir(parents=True, mode=paths.PRIVATE_DIR)
            return run
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a unique run folder in {root}")


def resolve_run(ref: str, root: Path | None = None) -> Path:
    """A run folder from an id, a unique id prefix, or a path."""
    if not ref.strip():
        raise FileNotFoundError("no run given")
    as_path = paths.user_path(ref)
    if as_path.is_dir():
        return as_path
    root = root or paths.runs_dir()
    if ref and (root / ref).is_dir():  # a full id wins over longer ids it happens to prefix
        return root / ref
    matches = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(ref))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FileNotFoundError(f"no run matches {ref!r} in {root}")
    raise FileNotFoundError(f"{ref!r} matches {len(matches)} runs; give more of the id")


@contextlib.contextmanager
def hold_lock(run_dir: Path) -> Iterator[None]:
    """Held by the worker for its whole life; released by the OS if it dies."""
    handle = take_lock(run_dir)
    try:
        yield
    finally:
        handle.close()


def take_lock(run_dir: Path) -> IO[str]:
    """The run's lock, taken (raises OSError when another process holds it); closing the
    returned file releases it."""
    handle = open(Path(run_dir) / LOCK_NAME, "a+")
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
    except BaseException:
        handle.close()
        raise
    return handle


def newest_live_run(root: Path | None = None, kind: str = "train") -> Path | None:
    """The newest run of this job kind a live worker holds, from lock files and job.json
    only (cheap at start-up). Compare, eval and merge workers are not training runs."""
    root = root or paths.runs_dir()
    if not root.exists():
        return None
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.name, reverse=True)
    return next((p for p in folders if is_locked(p) and _job_kind(p) == kind), None)


def _job_kind(run_dir: Path) -> str | None:
    try:
        return str(json.loads((run_dir / JOB_NAME).read_text(encoding="utf-8")).get("kind", "train"))
    except (OSError, ValueError, AttributeError):
        return None


def is_locked(run_dir: Path) -> bool:
    """True while a live worker holds the run."""
    lock = Path(run_dir) / LOCK_NAME
    if not lock.exists() or fcntl is None:
        return False
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete event line; a torn last line (killed mid-write) is skipped."""
    path = Path(run_dir) / EVENTS_NAME
    events: list[dict[str, Any]] = []
    if not path.exists():
        return events
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                events.append(data)
    return events


def last_event(run_dir: Path, kind: str, tail_bytes: int = 65_536) -> dict[str, Any] | None:
    """The newest complete event of ``kind``, read from the file's end only: a long run's
    events file is megabytes, and the queue asks every second."""
    path = Path(run_dir) / EVENTS_NAME
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - tail_bytes))
            lines = handle.read().split(b"\n")
    except OSError:
        return None
    for raw in reversed(lines[1:-1] if size > tail_bytes else lines[:-1]):  # whole lines only
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("type") == kind:
            return data
    return None


@dataclass
class RunSummary:
    run_id: str
    path: Path
    status: str  # running | done | stopped | failed | cancelled
    created: float
    kind: str = "train"  # the job's kind: train, eval, merge, export, generate, serve
    name: str = ""  # what the user calls it: the adapter made (pirate/v2), or the adapters used
    model: str = ""
    dataset: str = ""
    method: str = ""
    step: int = 0
    total_steps: int = 0
    final_loss: float | None = None
    eval_loss: float | None = None
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)  # the done event's, as written (any kind of job)
    trained: TrainOutputs | None = None  # a train run's done outputs, read as their record


def _job_data(run_dir: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, json.JSONDecodeError):
        job = json.loads((Path(run_dir) / JOB_NAME).read_text(encoding="utf-8"))
        return job if isinstance(job, dict) else {}
    return {}


def job_kind(run_dir: Path) -> str:
    """What a run folder's job was ("train" where its job.json can't say)."""
    return str(_job_data(run_dir).get("kind", "train"))


def summarize(run_dir: Path) -> RunSummary:
    run_dir = Path(run_dir)
    events = read_events(run_dir)
    job = _job_data(run_dir)
    summary = RunSummary(run_dir.name, run_dir, "failed", run_dir.stat().st_mtime)
    summary.model = str(job.get("model", {}).get("path", ""))
    summary.dataset = str(job.get("dataset", {}).get("path", ""))
    summary.kind = str(job.get("kind", "train"))
    summary.method = _method(job) if summary.kind == "train" else summary.kind
    for event in events:
        kind = event.get("type")
        if kind == "hello":
            summary.created = float(event.get("t", summary.created))
        elif kind == "step":
            summary.step = _int(event.get("step"), summary.step)
            summary.total_steps = _int(event.get("total_steps"), summary.total_steps)
            summary.final_loss = _float(event.get("loss"))
        elif kind == "eval":
            summary.eval_loss = _float(event.get("eval_loss"))
    final = next((e for e in reversed(events) if e.get("type") in ("done", "error")), None)
    made: Record | None = None  # the done event's outputs, as their job kind's record
    if final is None:
        if is_locked(run_dir):
            summary.status = "running"
        else:
            summary.status = "failed"
            summary.message = "the worker died without finishing (killed or crashed)"
    elif final["type"] == "done":
        summary.status = "done"
        summary.outputs = final.get("outputs") if isinstance(final.get("outputs"), dict) else {}
        made = outputs_for(summary.kind, summary.outputs, f"{run_dir.name}: done")
        if isinstance(made, TrainOutputs):
            trained = summary.trained = made
            summary.status = "stopped" if trained.stopped else "done"
            summary.final_loss = _first(trained.metrics.train_loss, summary.final_loss)
            summary.eval_loss = _first(trained.metrics.eval_loss, summary.eval_loss)
    else:
        summary.status = "cancelled" if final.get("kind") == "cancelled" else "failed"
        summary.message = str(final.get("message", ""))
    summary.name = _name(job, made)
    return summary


def _name(job: dict[str, Any], made: Record | None) -> str:
    """The library version a train or merge run made (its chosen name while it runs), else
    the adapters an eval, export, generate or compare run used ("" when it has none)."""
    if isinstance(made, TrainOutputs) and (made.library_ref or made.name):
        return str(made.library_ref or made.name)
    if isinstance(made, MergeOutputs) and made.library_ref:
        return made.library_ref
    named = (job.get("output") or {}).get("name") if job.get("kind", "train") == "train" else job.get("name")
    if named:
        return str(named)
    used = job.get("adapters") or ([job["adapter"]] if job.get("adapter") else [])
    return ", ".join(Path(str(a)).name if Path(str(a)).is_absolute() else str(a) for a in used)


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _int(value: Any, default: int) -> int:
    """A number from an event line written by someone else: bad values are ignored."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _method(job: dict[str, Any]) -> str:
    from studio.core.jobs import LoraSettings

    lora = job.get("lora") or {}
    try:
        settings = LoraSettings(**{k: v for k, v in lora.items() if k in LoraSettings.__dataclass_fields__})
    except TypeError:
        return "?"
    return settings.method_label(str((job.get("model") or {}).get("quantization", "none")))


def list_runs(root: Path | None = None) -> list[RunSummary]:
    """Every run under the runs folder, newest first."""
    root = root or paths.runs_dir()
    runs = [summarize(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(runs, key=lambda r: r.run_id, reverse=True)


def valid_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first: each file a resume reads is whole (core.resumable)."""
    from studio.core.resumable import checkpoint_folders, checkpoint_problem

    return [p for p in checkpoint_folders(run_dir) if checkpoint_problem(p) is None]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint; a newer one cut short or emptied (a crash, a power cut)
    is passed over. core.resumable.resume_point also says which and why."""
    from studio.core.resumable import resume_point

    return resume_point(run_dir).checkpoint


def record_death(run_dir: Path, how: str) -> None:
    """Append an ``error`` event saying how a worker that died without one ended."""
    from studio.core import protocol

    if any(e.get("type") in protocol.FINAL_EVENTS for e in read_events(run_dir)):
        return  # already said (by another window or the CLI)
    event = protocol.Error(kind="internal", message=f"the worker died without finishing ({how})",
                           hint="resume from the last checkpoint with `lora-studio train --resume RUN`")
    path = Path(run_dir) / EVENTS_NAME
    with contextlib.suppress(OSError), open(path, "a+", encoding="utf-8") as handle:
        handle.seek(0, 2)
        if handle.tell() > 0:
            handle.seek(handle.tell() - 1)
            if handle.read(1) != "\n":
                handle.write("\n")  # a line torn by the kill stays a (skipped) bad line
        handle.write(protocol.encode(event))
