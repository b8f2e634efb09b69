"""How a training step is set up, once, for the worker and the benchmark alike.

Given a model with its adapter, the job and the rows' lengths, this chooses the fast path
(engine.fast_path), plans the checkpointed layers, applies both to the model, and builds what
the Trainer takes: its arguments, the optimizer, the collator and the CUDA graphs. The worker
(engine.training) and ``lora-studio bench`` (engine.bench) both call it, so the benchmark
measures the step users get, not a copy of it that can drift (issue 19: the copy it had
lacked CUDA graphs and the bucketed collator).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import DataCollatorForSeq2Seq, TrainingArguments

from studio.core import compile_choice, runs
from studio.core.jobs import TrainJob
from studio.engine import (
    adapter_setup,
    cpu_dropout,
    data_prep,
    distributed,
    fast_path,
    hardware,
    layer_setup,
    step_graphs,
    step_log,
    trackers,
)
from studio.engine.guarded_trainer import lagged_steps_possible
from studio.engine.output_loss import OutputLoss


@dataclass(frozen=True)
class StepSetup:
    path: fast_path.FastPath  # as applied to the model
    size: fast_path.JobSize  # the compile choice's view of the job (and its cache key)
    args: TrainingArguments
    optimizer: Any  # LoRA+'s, or None: the Trainer builds the one ``args`` names
    collator: Callable
    graphs: step_graphs.StepGraphs | None
    lagged: step_log.LaggedSteps | None  # the steps' numbers read without waiting for the GPU
    output_loss: OutputLoss | None = None  # CPU: the loss from the labelled positions alone
    eval_collator: Callable | None = None  # the eval batches', where not ``collator``


def prepare(model, tokenizer, job: TrainJob, run_dir: Path, hw: hardware.Hardware, *, lengths: list[int],
            steps: int, has_eval: bool, trainable: int, total: int, strategy: str = "single",
            backend: str = "nccl", adjust: Callable[[fast_path.FastPath], fast_path.FastPath] | None = None,
            choice_steps: int | None = None) -> StepSetup:
    """The fast path chosen for this job and machine and applied to ``model``, and the
    Trainer's parts. ``adjust``: a change to the chosen path before it is applied;
    ``choice_steps``: the steps the compile choice weighs, if not the job's (the benchmark
    measures steady steps on behalf of long jobs; the worker passes neither)."""
    sharded = strategy == "fsdp"
    world = distributed.current().world_size
    config = model.config.to_dict()
    size = job_size(model, job, choice_steps or steps)
    graphs_faster = fast_path.graphs_faster(job, config, lengths, trainable)

    def planned(graphs_wanted: bool) -> tuple[bool, fast_path.FastPath]:
        """(whether the choice had graphs, the path once checkpointing was planned against memory)."""
        path = fast_path.choose(job, hw, str(getattr(model.config, "model_type", "")), lengths, sharded=sharded,
                                processes=world, size=size, graphs_faster=graphs_wanted)
        if adjust is not None:
            path = adjust(path)
        return path.graphs, fast_path.plan_checkpointing(path, job, config, total - trainable, hw, world, sharded)

    chosen_graphs, path = planned(graphs_faster)
    if chosen_graphs and not path.graphs:
        # Their pool would not fit (plan_checkpointing's reason): the path chosen as if graphs were
        # never on offer (compiled, where the job pays that back), with the reason kept.
        _, second = planned(False)
        path = dataclasses.replace(second, compile_reason="; ".join(
            reason for reason in (path.compile_reason, second.compile_reason) if reason))
    if path.checkpointed is not None:  # every rank checkpoints alike, as the fullest card needs
        path = dataclasses.replace(path, checkpointed=distributed.largest(path.checkpointed))
    fast_path.apply_globals(path)
    path = layer_setup.apply(model, path)
    output_loss = OutputLoss.for_model(model) if path.output_loss else None
    if path.output_loss and output_loss is None:  # another family, or a trained output layer: the model's loss
        path = dataclasses.replace(path, output_loss=False)
    if path.compact_dropout and not cpu_dropout.use_masked_dropout(model):  # no dropout to swap
        path = dataclasses.replace(path, compact_dropout=False)
    extra = distributed.trainer_arguments(strategy, backend, distributed.decoder_layer_classes(model))
    args = training_arguments(job, run_dir, hw, steps, has_eval, path, extra)
    optimizer = adapter_setup.build_optimizer(model, job.lora, job.training.learning_rate,
                                              job.training.weight_decay, job.training.optimizer)
    collator = data_prep.collator(tokenizer, path.packing, boundaries=path.attention == "varlen",
                                  bucketed=path.graphs)
    if path.rows_apart:  # a row alone needs no padding: no rounding up to 8 tokens, no attention mask
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=data_prep.IGNORE)
    # Without the varlen kernel (the CPU), a packed row attends through a dense mask over all of it:
    # four of the longest eval rows packed (1,664 tokens of the issue 20 file) spend about a third of
    # their forward FLOPs on masked-out pairs. The eval rows come sorted by length (engine.eval_plan),
    # so padded batches of them carry little padding.
    eval_collator = data_prep.collator(tokenizer, False) if path.packing and hw.device == "cpu" else None
    lagged = lagged_steps_possible(args.optim, hw.device, hw.precision, job.training.grad_accum, world > 1,
                                   optimizer is not None)
    return StepSetup(path, size, args, optimizer, collator, step_graphs.StepGraphs() if path.graphs else None,
                     step_log.LaggedSteps() if lagged else None, output_loss, eval_collator)


def training_arguments(job: TrainJob, run_dir: Path, hw: hardware.Hardware, steps: int,
                       has_eval: bool, path: fast_path.FastPath | None = None,
                       extra: dict[str, Any] | None = None,
                       config_class: type[TrainingArguments] = TrainingArguments) -> TrainingArguments:
    """The Trainer's arguments for ``job``; ``config_class``: a trainer's own subclass (TRL's DPOConfig),
    with its own settings in ``extra``."""
    tr = job.training
    path = path or fast_path.FastPath(packing=tr.packing, liger=False, fused_adamw=False, tf32=False)
    # Rows apart (the CPU): the same rows make each step, one a micro-batch; the Trainer counts the
    # step's tokens over all of them, so the loss and its gradient are the batch's.
    rows_apart = tr.batch_size if path.rows_apart else 1
    kwargs: dict[str, Any] = dict(
        output_dir=str(Path(run_dir) / runs.CHECKPOINTS_NAME),
        per_device_train_batch_size=tr.batch_size // rows_apart,
        per_device_eval_batch_size=tr.batch_size,
        gradient_accumulation_steps=tr.grad_accum * rows_apart,
        learning_rate=tr.learning_rate,
        max_steps=steps,
        lr_scheduler_type=tr.lr_scheduler,
        warmup_steps=math.ceil(tr.warmup_ratio * steps),
        weight_decay=tr.weight_decay,
        max_grad_norm=tr.max_grad_norm if tr.max_grad_norm > 0 else 1e9,
        logging_strategy="steps",
        logging_steps=tr.logging_steps,
        save_strategy="steps" if tr.save_steps > 0 else "no",
        save_steps=tr.save_steps if tr.save_steps > 0 else 500,
        save_total_limit=tr.save_total_limit,
        eval_strategy="steps" if has_eval and tr.eval_steps > 0 else "no",
        eval_steps=tr.eval_steps if tr.eval_steps > 0 else None,
        bf16=hw.precision == "bf16",
        fp16=hw.precision == "fp16",
        use_cpu=hw.device == "cpu",
        seed=tr.seed,
        data_seed=tr.seed,
        optim="adamw_torch_fused" if path.fused_adamw else tr.optimizer,
        use_liger_kernel=path.liger,
        liger_kernel_config=path.liger_config() if path.liger else None,
        **trackers.run_arguments(run_dir, config_class),  # report_to: [] unless engine.trackers is tracking the run
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        # One process: the callback counts real tokens on the CPU (no host sync per batch).
        include_num_input_tokens_seen="non_padding" if distributed.active() else "no",
        # GuardedTrainer checks every loss before the weights see it; the Trainer's own filter would
        # only add a wait for the GPU at every step.
        logging_nan_inf_filter=False,
        # Batches go to the GPU without waiting for it (their memory is pinned).
        dataloader_pin_memory=hw.device == "cuda",
        accelerator_config={"non_blocking": hw.device == "cuda"},
    )
    kwargs.update(extra or {})  # a trainer's own settings, and what it counts its own way
    try:
        return config_class(**kwargs)
    except (TypeError, ValueError):
        kwargs["include_num_input_tokens_seen"] = kwargs["include_num_input_tokens_seen"] != "no"  # older: a bool
        return config_class(**kwargs)


def job_size(model, job: TrainJob, steps: int) -> fast_path.JobSize:
    """The job's micro-steps and decoder layers, for the compile choice; the key names the
    compiled layers (model, layer size, quantization, torch) in the compile cache's record."""
    layers = layer_setup.decoder_layers(model)
    per_layer = compile_choice.layer_parameters(model.config.to_dict()) or (
        sum(p.numel() for p in layers[0].parameters()) if layers else 0)
    dropout = "dropout" if job.lora.dropout > 0 else "nodropout"  # another graph
    key = (f"{getattr(model.config, 'model_type', '')}-{len(layers)}x{per_layer}-{job.model.quantization}-"
           f"{dropout}-torch{torch.__version__}")
    return fast_path.JobSize(steps * job.training.grad_accum, len(layers), per_layer, key)
