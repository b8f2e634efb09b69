"""One training process among several (started by torchrun): who it is, and how user
commands stay in step across processes.

Only rank 0 hears the user (its stdin) and speaks events; the other ranks learn of a
stop, a checkpoint or a pause through one small all-reduce at every step end, so all
of them leave the loop, save and pause at the same step (a rank that ran ahead would
wait forever in the next collective).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from studio.engine.control import JobControl


@dataclass(frozen=True)
class Rank:
    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> Rank:
    """This process's place in the run (rank 0 of 1 when not started by torchrun)."""
    env = os.environ
    return Rank(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))


def is_main_process() -> bool:
    return current().is_main


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@dataclass
class Requests:
    """What the user asked for, as every rank will act on it at this step."""
    stop: bool = False
    checkpoint: bool = False


def agree(control: JobControl, poll_s: float = 0.2) -> Requests:
    """Rank 0's pending commands, shared with every rank (MAX all-reduce).

    A pause keeps every rank in this loop, all-reducing every ``poll_s``, so a long
    pause never trips the process group's timeout.
    """
    device = _collective_device()
    asked_checkpoint = False  # a checkpoint asked for during a pause is kept for after it
    while True:
        local = [control.stop_requested, control.take_checkpoint_request(), control.paused]
        flags = torch.tensor([float(v) for v in local], device=device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, checkpoint, pause = (bool(v) for v in flags.tolist())
        asked_checkpoint = asked_checkpoint or checkpoint
        if stop:
            control.request("stop")  # every rank now knows, and saves alike
        if not pause or stop:
            return Requests(stop=stop, checkpoint=asked_checkpoint)
        time.sleep(poll_s)


def largest(value: int) -> int:
    """The largest of every rank's ``value`` (so that all ranks take the same plan, the
    most careful one); the value itself in a single process."""
    if not active():
        return value
    shared = torch.tensor([float(value)], device=_collective_device())
    dist.all_reduce(shared, op=dist.ReduceOp.MAX)
    return int(shared.item())


def _collective_device() -> torch.device:
    on_gpu = "nccl" in str(dist.get_backend())
    return torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")


def trainer_arguments(strategy: str, backend: str, layer_classes: list[str]) -> dict[str, Any]:
    """TrainingArguments for DDP or FSDP, following peft's and accelerate's guides."""
    if strategy == "ddp":
        # LoRA leaves most parameters frozen; telling DDP so skips a graph walk per step.
        return {"ddp_backend": backend, "ddp_find_unused_parameters": False}
    if strategy != "fsdp":
        return {}
    config: dict[str, Any] = {
        "transformer_layer_cls_to_wrap": layer_classes,
        "use_orig_params": False,  # the frozen base and the adapter live in separate flat params
        "sync_module_states": False,  # every rank loads the same weights itself
        "cpu_ram_efficient_loading": False,
        "activation_checkpointing": False,  # the model's own checkpointing is on when asked
        "state_dict_type": "FULL_STATE_DICT",
    }
    return {"ddp_backend": backend, "fsdp": "full_shard auto_wrap", "fsdp_config": config}


def decoder_layer_classes(model) -> list[str]:
    """Class names of the repeated blocks FSDP wraps one by one (e.g. LlamaDecoderLayer)."""
    names = getattr(model, "_no_split_modules", None) or []
    if not names:
        inner = getattr(model, "base_model", None)
        inner = getattr(inner, "model", inner)
        names = getattr(inner, "_no_split_modules", None) or []
    return list(names)


def barrier() -> None:
    if active():
        dist.barrier()
