"""The worker process: run one job, speak JSON lines, obey commands.

Stdout is reserved for events: the real stdout is kept for them and file
descriptor 1 is pointed at stderr, so a stray print in any library (even from C)
cannot corrupt the stream. Stderr is copied to ``worker.log`` in the run folder.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import BinaryIO, TextIO

from studio.core import atomic, paths, protocol, runs
from studio.core.job_schema import Issue, JobError, dumps, load_job
from studio.core.records import Record

log = logging.getLogger("studio.worker")


def _take_stdout() -> TextIO:
    """A text stream on the real stdout; fd 1 then points at stderr."""
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(events_fd, "w", encoding="utf-8", buffering=1)


def _tee_stderr(log_path: Path) -> None:
    """Copy everything written to fd 2 (Python or C) into ``worker.log`` too."""
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = os.fdopen(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stdout = sys.stderr
    log_file: BinaryIO | None = open(log_path, "ab", opener=paths.private_opener)

    def pump() -> None:
        # Never stops pumping: a dead pump would block every later write to stderr once the
        # pipe filled. A log file that can't be written (a full disk) is given up, not the run.
        nonlocal log_file
        while chunk := os.read(read_fd, 65536):
            if log_file is not None:
                try:
                    log_file.write(chunk)
                    log_file.flush()
                except OSError:
                    with contextlib.suppress(OSError):
                        log_file.close()
                    log_file = None
            try:
                os.write(original, chunk)
            except OSError:
                pass

    _TEE.append(threading.Thread(target=pump, name="stderr-tee", daemon=True))
    _TEE[-1].start()


_TEE: list[threading.Thread] = []


def exit_now(code: int) -> None:
    """End the process once its outputs are written: the run is over (events closed, adapter
    and library entry on disk), and the interpreter's own teardown of torch, CUDA and the
    loaded models took ~2 s more of every job (measured on a 2-core CPU and an H200)."""
    for stream in (sys.stdout, sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    if _TEE:  # the tee ends when fd 2, its pipe's last writer here, is closed: worker.log is complete
        with contextlib.suppress(OSError):
            os.close(2)
        _TEE[0].join(timeout=2.0)
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.worker", description=__doc__)
    parser.add_argument("job", type=Path, help="job file (.json or .toml)")
    parser.add_argument("--run-dir", type=Path, help="run folder (default: a new one under <home>/runs)")
    args = parser.parse_args(argv)
    # Jobs read local files only (a model download is its own, explicit step): never
    # let a library reach for the Hub in the middle of a run.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    with contextlib.suppress(OSError):  # an unusable home: compile caches stay torch's own
        for name, value in paths.compile_cache_environment().items():
            os.environ.setdefault(name, value)
    events_out = _take_stdout()

    try:
        job = load_job(args.job)
    except JobError as exc:
        run_dir = args.run_dir
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
        return _fail_early(events_out, run_dir, exc)

    _one_gpu_per_process(job)
    run_dir = args.run_dir or runs.create_run_dir(f"{Path(job.model.path).stem}")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with runs.hold_lock(run_dir):
            job_path = run_dir / runs.JOB_NAME
            if not job_path.exists() or job_path.resolve() != args.job.resolve():
                atomic.write_text(job_path, dumps(job))
            return _run(job, run_dir, events_out)
    except BlockingIOError:
        error = protocol.Error(kind="config", message=f"another worker is already running in {run_dir}")
        events_out.write(protocol.encode(error))
        return protocol.EXIT_BAD_JOB


def _one_gpu_per_process(job) -> None:
    """A single-process job sees one GPU (the one it names, else the first), set before
    torch starts CUDA: on a machine with several, the Trainer would otherwise spread
    the batch over all of them with DataParallel, which breaks on device-mapped
    models. Several GPUs are torchrun's job (distributed.gpus)."""
    gpus = getattr(getattr(job, "distributed", None), "gpus", [])
    if len(gpus) > 1:
        return  # the launcher gives each rank its GPUs
    visible = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    if gpus:  # an nvidia-smi index, as the Train page lists them
        os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus[0])
    elif visible:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible[0]
    elif os.environ.get("CUDA_VISIBLE_DEVICES") is None:
        os.environ["CUDA_VISIBLE_DEVICES"] = "0"


def _fail_early(events_out, run_dir: Path | None, exc: JobError) -> int:
    error = protocol.Error(kind="config", message=str(exc), hint="fix the fields named above")
    line = protocol.encode(error)
    events_out.write(line)
    if run_dir is not None:
        with open(run_dir / runs.EVENTS_NAME, "a", encoding="utf-8") as handle:
            handle.write(line)
    return protocol.EXIT_BAD_JOB


def _dispatch(job, run_dir: Path, emit, control) -> dict | Record:
    if job.kind == "train":
        _refuse_what_this_machine_cannot_run(job)
        finished = _finished_run(job, run_dir, emit)
        plan = _launch_plan(job) if finished is None else None
        if plan is not None and plan.distributed:
            from studio.worker.rank_launcher import run_ranks

            outputs = run_ranks(job, run_dir, plan, emit, control)  # rank 0 adds it to the library
        else:
            outputs = finished if finished is not None else _train_in_this_process(job, run_dir, emit, control)
            if job.output.add_to_library:
                outputs.library_ref = _add_to_library(run_dir, emit)
        if job.output.save_merged and outputs.adapter_path:
            from studio.engine.merging import export_after_training

            merged = export_after_training(job, outputs, run_dir, emit)
            if merged is not None:
                outputs.merged_path = merged.output_dir
        return outputs
    if job.kind == "generate":
        from studio.engine.generation import run_generation

        return run_generation(job, emit)
    if job.kind == "serve":
        from studio.engine.generation import run_serve

        return run_serve(job, emit, control)
    if job.kind == "eval":
        from studio.engine.evaluation import run_eval

        return run_eval(job, emit)
    if job.kind == "merge":
        from studio.engine.merging import run_merge

        return run_merge(job, emit, control)
    if job.kind == "export":
        from studio.engine.merging import run_export

        return run_export(job, emit, control)
    raise JobError([Issue("kind", f"unknown job kind '{job.kind}'")])


def _train_in_this_process(job, run_dir: Path, emit, control):
    from studio.worker.lean_imports import leave_out

    left_out = leave_out(job)  # before the engine imports peft and transformers
    log.info("not imported, unused by this job: %s", ", ".join(left_out) or "nothing")
    from studio.engine.training import run_training

    return run_training(job, run_dir, emit, control)


def _finished_run(job, run_dir: Path, emit):
    """A resumed run that had trained every step and saved its adapter whole before its worker
    ended (killed while filing it in the library, say): finished from that adapter and its card,
    not trained again. None where there is training left to do."""
    from studio.core.resumable import finished_adapter

    if job.training.resume_from != "latest":
        return None
    outputs = finished_adapter(run_dir, job.training.max_steps)
    if outputs is not None:
        steps = outputs.metrics.steps
        emit(protocol.Phase("training", done=steps, total=steps,
                            detail=f"all {steps} steps were trained and the adapter saved before the worker "
                                   "ended: finishing the run from it, without training again"))
    return outputs


def _refuse_what_this_machine_cannot_run(job) -> None:
    """core.machine_fit, the rule the Train page and `lora-studio train` asked before starting this
    worker, on the GPUs torch sees here (a CPU build of torch sees none, whatever the driver says)."""
    from studio.core import machine_fit
    from studio.engine import hardware

    cards = [device for device in hardware.devices() if device["type"] == "cuda"]
    # A tracker that is not installed is left out with a warning (engine.trackers), never the run.
    if problems := machine_fit.machine_issues(job, cards, trackers_wanted=False):
        raise machine_fit.MachineError(problems)


def _launch_plan(job):
    """One process, or torchrun over several; ``auto`` takes FSDP only when the
    estimate says one of the chosen GPUs can't hold the job."""
    from studio.core import launch_plan

    return launch_plan.plan(job, fits_one_gpu=_fits_one_gpu(job) if job.distributed.gpus else None)


def _fits_one_gpu(job) -> bool | None:
    from studio.core import gpus, vram
    from studio.core.models import inspect_model, model_source

    cards = [gpu for gpu in gpus.visible_gpus() if gpu.index in job.distributed.gpus]
    if not cards or job.distributed.strategy != "auto":
        return None
    try:
        model = inspect_model(model_source(job.model.path))
        estimate = vram.estimate(job, model.config, num_parameters=model.num_parameters)
    except Exception as exc:  # noqa: BLE001 - no estimate: keep DDP, the usual choice
        log.info("no estimate to choose ddp or fsdp: %s", exc)
        return None
    return estimate.total <= min(card.total_bytes for card in cards)


def _add_to_library(run_dir: Path, emit) -> str | None:
    """The finished run's adapter as the next library version (filed once: a resumed run
    gets its earlier version back). No failure of the library fails the run: the adapter
    is safe in the run folder, and the warning says how to file it later."""
    import sqlite3

    from studio.core.library import Library, LibraryError

    try:
        with Library() as library:
            return library.add_run(run_dir).ref
    except (LibraryError, OSError, sqlite3.Error) as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - a library bug must not lose a finished run either
        log.error("adding the adapter to the library failed:\n%s", traceback.format_exc())
        reason = f"{type(exc).__name__}: {exc}"
    emit(protocol.Warning(f"the adapter was not added to the library: {reason}. It is safe in "
                          f"{run_dir / runs.ADAPTER_NAME}; `lora-studio library add {run_dir}` files it later"))
    return None


def _run(job, run_dir: Path, events_out) -> int:
    from studio.engine import hardware
    from studio.engine.control import JobControl
    from studio.worker import commands
    from studio.worker.emitter import Emitter
    from studio.worker.errors import classify
    from studio.worker.run_folder import RunFolderWatch
    from studio.worker.system_monitor import SystemMonitor

    atomic.clean_leftovers(run_dir)
    _tee_stderr(run_dir / runs.LOG_NAME)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    # transformers 5 renamed gradient to activation checkpointing; peft and TRL still ask by the old
    # name at every run, and a user reading the log can do nothing about it.
    warnings.filterwarnings("ignore", message=r"`(is_)?gradient_checkpointing\w*` is deprecated", category=FutureWarning)
    emit = Emitter(events_out, run_dir / runs.EVENTS_NAME)
    control = JobControl()

    def cancel_now(reason: str = "") -> None:
        # "Exit at once, save nothing": every write in the engine is atomic, and what a job
        # was writing when the cancel came (control.discard_on_cancel) goes with it. Once the
        # job has committed its result (a merge in the library), it is too late to say so.
        if not control.claim_cancel():
            log.info("cancel refused: the result is already saved")
            emit(protocol.Warning("too late to cancel: the result was already saved"))
            return
        emit(protocol.Error(kind="cancelled", message=protocol.cancelled_message(reason)))
        with emit.hold():  # nothing else is written (or the run closed) while its files go
            control.discard()
            os._exit(protocol.EXIT_CANCELLED)

    socket_server = commands.ControlSocket(run_dir, control, cancel_now).start()
    commands.install_signals(control)
    commands.read_stdin(control, cancel_now)
    emit(protocol.Hello(pid=os.getpid(), versions=hardware.versions(), devices=hardware.devices(),
                        run_dir=str(run_dir)))
    monitor = SystemMonitor(emit).start()
    folder_watch = RunFolderWatch(run_dir, dumps(job), emit,
                                  socket_server.rebind if socket_server is not None else lambda: None).start()
    try:
        outputs = _dispatch(job, run_dir, emit, control)
        control.commit()  # a cancel from here on would say "nothing was saved" of a saved result
        emit(protocol.done(outputs))
        return protocol.EXIT_OK
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an error event
        error = classify(exc, run_dir)
        if error.kind == "internal":  # a bug or an unforeseen failure: its traceback is what helps
            log.error("job failed:\n%s", traceback.format_exc())
        else:  # said in words (kind, message, hint): a traceback would only bury them in the Log
            log.error("job failed (%s): %s", error.kind, error.message)
        emit(error)
        return protocol.EXIT_FOR_ERROR[error.kind]
    finally:
        monitor.stop()
        folder_watch.stop()
        if socket_server is not None:
            socket_server.close()
        emit.close()
