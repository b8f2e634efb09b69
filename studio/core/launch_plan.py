"""How many processes a train job runs in, and the torchrun command that starts them.

Pure Python: the worker asks this module whether to start torchrun and with which
arguments, the GUI and ``lora-studio estimate`` show the same plan before a run, and
tests check it without torch. Several GPUs use torch's own launcher and process
groups (DDP or FSDP through the Trainer); nothing here moves tensors.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from studio.core import methods, processes, vram
from studio.core.jobs import TrainJob

RANK_MODULE = "studio.worker.rank"


@dataclass(frozen=True)
class LaunchPlan:
    nproc_per_node: int
    nnodes: int
    node_rank: int
    strategy: str  # "single" | "ddp" | "fsdp"
    backend: str  # "nccl" (GPUs) | "gloo" (CPU processes)
    gpus: tuple[int, ...]
    master: tuple[str, int] | None  # (host, port) of node 0 for several machines; None = this one alone

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def describe(self) -> str:
        if not self.distributed:
            return "one process"
        where = f"GPUs {','.join(map(str, self.gpus))}" if self.gpus else "CPU"
        nodes = f" x {self.nnodes} machines" if self.nnodes > 1 else ""
        return f"{self.strategy.upper()} over {self.nproc_per_node} processes ({where}, {self.backend}){nodes}"


def plan(job: TrainJob, fits_one_gpu: bool | None = None) -> LaunchPlan:
    """The plan for ``job``; ``fits_one_gpu`` (from the VRAM estimate) resolves strategy ``auto``."""
    dist = job.distributed
    if dist.gpus:
        nproc, backend = len(dist.gpus), "nccl"
    elif dist.cpu_processes > 1:
        nproc, backend = dist.cpu_processes, "gloo"
    else:
        nproc, backend = 1, "nccl" if job.training.device != "cpu" else "gloo"
    world = nproc * max(1, dist.nnodes)
    if world <= 1:
        strategy = "single"
    elif dist.strategy == "auto":
        # A method FSDP can't shard (PiSSA/OLoRA rewrite the whole base) stays on DDP.
        shardable = backend == "nccl" and not any(m.fsdp_note for m in methods.in_use(job))
        strategy = "fsdp" if fits_one_gpu is False and shardable else "ddp"
    else:
        strategy = dist.strategy
    if backend == "gloo":
        strategy = "ddp"  # accelerate shards (FSDP) on GPUs only; CPU processes replicate
    master = _endpoint(dist.rdzv_endpoint) if dist.nnodes > 1 else None
    return LaunchPlan(nproc, max(1, dist.nnodes), dist.node_rank, strategy, backend, tuple(dist.gpus), master)


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"distributed.rdzv_endpoint must be host:port, got {text!r}")
    return host, int(port)


def torchrun_command(launch: LaunchPlan, python: str, job_path: str, run_dir: str) -> list[str]:
    """``python -m torch.distributed.run ...`` starting one rank worker per process.

    Several machines use a static rendezvous at node 0 (``--master-addr``), so global
    rank 0, the one that reports and saves, is always on ``node_rank`` 0.
    """
    frozen = python == sys.executable and processes.frozen()
    runner = [python, processes.RUN_MODULE_FLAG] if frozen else [python, "-m"]
    argv = [*runner, "torch.distributed.run", "--nproc-per-node", str(launch.nproc_per_node), "--max-restarts", "0"]
    if launch.master is None:
        argv += ["--standalone"]
    else:
        host, port = launch.master
        argv += ["--nnodes", str(launch.nnodes), "--node-rank", str(launch.node_rank),
                 "--master-addr", host, "--master-port", str(port)]
    # The PyInstaller bundle has no `python -m`: torchrun starts its own executable instead.
    script = ["--no-python", python, processes.RUN_MODULE_FLAG, RANK_MODULE] if frozen else ["-m", RANK_MODULE]
    return argv + [*script, job_path, "--run-dir", run_dir, "--strategy", launch.strategy, "--backend",
                   launch.backend]


def rank_environment(launch: LaunchPlan, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment torchrun and its ranks start with: the chosen GPUs only, and the
    CPU's threads shared between CPU processes instead of each taking all of them."""
    env = dict(os.environ if base is None else base)
    if launch.gpus:
        # The indices are nvidia-smi's (NVML, PCI bus order), as the Train page lists them;
        # CUDA counts fastest-first unless told to use the same order.
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, launch.gpus))
    elif launch.backend == "gloo":
        env["CUDA_VISIBLE_DEVICES"] = ""
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // launch.nproc_per_node)))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def per_gpu_estimate(job: TrainJob, config: dict, num_parameters: int | None,
                     capacity: int | None, graphs: bool = False) -> tuple[vram.Estimate, dict]:
    """The memory estimate of one GPU for the plan the worker will take (``auto`` picks
    FSDP only when one GPU of ``capacity`` can't hold the job), and the estimate's options
    (for ``vram.suggest``); ``graphs``: the steps will be CUDA graphs (core.step_time.graphs_expected)."""
    options: dict = {"num_parameters": num_parameters}
    # Graphs whose pool would not fit are turned off by the engine: count them only where they fit.
    options["graphs"] = graphs and (capacity is None or vram.graphs_fit(job, config, vram.budget_bytes(job, capacity),
                                                                          **options))
    estimate = vram.estimate(job, config, **options)
    launch = plan(job, fits_one_gpu=None if capacity is None else estimate.total <= capacity)
    if launch.distributed and launch.backend == "nccl":
        options.update(gpus=launch.nproc_per_node, strategy=launch.strategy)
        estimate = vram.estimate(job, config, **options)
    return estimate, options
