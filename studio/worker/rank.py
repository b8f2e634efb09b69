"""One process of a multi-process train job, as torchrun starts it (core.launch_plan).

Rank 0 reads commands on stdin and writes events on stdout; the worker that launched
torchrun relays both (worker.rank_launcher). Other ranks write nothing but their own
failure. Each rank dies with torchrun (PR_SET_PDEATHSIG), so a killed worker never
leaves GPU processes behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from studio.core import protocol
from studio.core.job_schema import load_job
from studio.core.jobs import TrainJob
from studio.core.processes import die_with_parent

log = logging.getLogger("studio.worker.rank")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.worker.rank", description=__doc__)
    parser.add_argument("job", type=Path)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--strategy", choices=["ddp", "fsdp"], default="ddp")
    parser.add_argument("--backend", choices=["nccl", "gloo"], default="nccl")
    args = parser.parse_args(argv)
    die_with_parent()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    from studio.worker.runner import _add_to_library, _take_stdout

    events_out = _take_stdout()
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, stream=sys.stderr, force=True,
                        format=f"%(asctime)s rank {rank} %(levelname)s %(name)s: %(message)s")
    from studio.worker.emitter import Emitter

    emitter = Emitter(events_out, None)

    def emit(event: protocol.Event) -> None:
        if rank == 0:
            emitter(event)

    try:
        import torch
        import torch.distributed as dist

        from studio.engine import training
        from studio.engine.control import JobControl
        from studio.worker import commands

        job = load_job(args.job)
        if not isinstance(job, TrainJob):  # torchrun starts ranks for training jobs only
            raise TypeError(f"a rank runs training jobs, not {job.kind!r}")
        if args.backend == "gloo":
            job.training.device = "cpu"
        else:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        # The group exists before the model loads (rank 0 converts a .gguf while the
        # others wait); the Trainer's accelerate state then adopts it.
        dist.init_process_group(backend=args.backend)
        control = JobControl()
        if rank == 0:
            commands.read_stdin(control, lambda _reason: os._exit(protocol.EXIT_CANCELLED))  # the launcher speaks
        outputs = training.run_training(job, args.run_dir, emit, control,
                                        parallel=training.Parallel(args.strategy, args.backend))
        if rank == 0:
            if job.output.add_to_library:
                outputs.library_ref = _add_to_library(args.run_dir, emit)
            emitter(protocol.done(outputs))
        return protocol.EXIT_OK
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an error event
        from studio.worker.errors import classify

        log.error("rank %d of %d failed:\n%s", rank, world, traceback.format_exc())
        error = classify(exc, args.run_dir)
        error.message = f"process {rank} of {world}: {error.message}"
        emitter(error)  # any rank may be the one that knows what went wrong
        return protocol.EXIT_FOR_ERROR[error.kind]
    finally:
        emitter.close()


if __name__ == "__main__":
    sys.exit(main())
