"""A preference stage's run (DPO): TRL's trainer behind the same worker protocol as SFT.

What every stage shares is engine.training's: loading the base, reading the rows for the stage,
adding the adapter (continue_from included), the Trainer's arguments, the protocol callback
(steps, evaluations, pause, stop, checkpoints), resume and the save with its card. What is
DPO's own is here: each pair as TRL's conversational row (prompt, chosen and rejected message
lists, which TRL renders through the model's chat template) and TRL's DPOTrainer, whose
rewards/* and logps/* numbers go out with each step.

The reference model is the adapter as it started: given a peft model and no reference, TRL keeps
a frozen copy of the adapter ("ref") and computes the reference pass with it, so no second model
is loaded. For a new adapter that is the base itself (its update starts at zero); for
continue_from it is the parent (the usual SFT-then-DPO flow). The copy is dropped before saving.

The GPU fast path (Liger, compile, CUDA graphs, packing) is SFT's; a DPO step runs plainly. TRL
is imported here only, when a job asks for a preference stage: it costs a worker's start.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import transformers

from studio.core import protocol
from studio.core.cards import DatasetRef
from studio.core.chat_segments import TemplateSupport, template_messages
from studio.core.datasets import Example
from studio.core.datasets.preference import sequences
from studio.core.jobs import TrainJob
from studio.core.outputs import TrainMetrics, TrainOutputs
from studio.engine import adapter_setup, data_prep, step_setup, training
from studio.engine.callbacks import ProtocolCallback
from studio.engine.control import JobControl

log = logging.getLogger(__name__)
# TRL's own numbers a preference step logs (rewards/chosen, rewards/margins, logps/rejected, ...)
STAGE_METRICS = ("rewards/", "logps/")
REFERENCE_ADAPTER = "ref"  # the name TRL gives its frozen copy of the starting adapter


@dataclass
class PreferenceRun:
    model: Any  # the trained PeftModel, still in memory
    tokenizer: Any
    trainer: Any  # TRL's trainer, for a caller that evaluates more pairs
    outputs: TrainOutputs


def pair_rows(examples: list[Example], tokenizer) -> list[dict[str, Any]]:
    """Each pair as TRL's conversational row: prompt, chosen and rejected message lists, written as
    SFT writes a chat for the template (core.chat_segments: tool calls, reasoning, their fallbacks)."""
    support = TemplateSupport.of(data_prep.template_text(tokenizer))
    with_tools = any(example.tools for example in examples)
    rows = []
    for example in examples:
        (chosen, tools, _), (rejected, _, _) = (template_messages(chat, support) for chat in sequences(example))
        cut = len(chosen) - len(example.chosen)  # the prompt's turns (a tools listing may have joined them)
        row: dict[str, Any] = {"prompt": chosen[:cut], "chosen": chosen[cut:],
                               "rejected": rejected[len(rejected) - len(example.rejected):]}
        if with_tools:  # as JSON: Arrow would give every tool the union of all tools' fields
            row["tools"] = json.dumps(tools)
        rows.append(row)
    return rows


def dpo_arguments(job: TrainJob) -> dict[str, Any]:
    """TRL's DPOConfig fields the job sets, beside the Trainer's (engine.step_setup)."""
    pref = job.preference
    return {
        "beta": pref.beta,
        "loss_type": pref.loss_type,
        "label_smoothing": pref.label_smoothing,
        "max_length": job.training.max_length,
        # engine.adapter_setup checkpoints the model's layers when the job asks; DPOConfig's own default is on.
        "gradient_checkpointing": False,
        # The Trainer counts each batch's real tokens (its mask): the SFT path's counting collator reads
        # SFT rows, and a DPO step has no host sync to save.
        "include_num_input_tokens_seen": "non_padding",
    }


def train_preference(job: TrainJob, run_dir: Path, emit: training.Emit, control: JobControl) -> PreferenceRun:
    """Load, prepare the pairs, train with TRL, evaluate the held-out pairs and save."""
    import datasets
    from trl import DPOConfig, DPOTrainer

    tr = job.training
    transformers.set_seed(tr.seed)
    base = training.load_base(job.model, emit, tr.device, tr.precision)
    rows = training.read_rows(job, emit)
    for note in data_prep.rendering_notes(rows.examples, base.tokenizer):
        emit(protocol.Warning(note))
    train_set = datasets.Dataset.from_list(pair_rows(rows.train, base.tokenizer))
    eval_set = datasets.Dataset.from_list(pair_rows(rows.evaluated, base.tokenizer)) if rows.evaluated else None
    parent_folder, parent = training.continued(job)
    steps = training.total_steps(len(train_set), job)
    model = adapter_setup.apply_adapter(base.model, job.lora, tr.gradient_checkpointing,
                                        quantized=job.model.quantization != "none", continue_from=parent_folder,
                                        total_steps=steps)
    job = training.as_trained(job, model, parent_folder)
    trainable, total = adapter_setup.trainable_parameters(model)
    initial_adapter = adapter_setup.save_initial_adapter(model, job.lora, run_dir)
    emit(protocol.Phase("preparing_data", done=len(train_set), total=len(rows.examples),
                        detail=f"{len(train_set)} train / {len(rows.held_out)} held-out pairs"
                               f"{training.evaluated_note(len(rows.evaluated), len(rows.held_out))}; {trainable:,} "
                               f"trainable of {total:,} parameters; {base.hw.device} {base.hw.precision}; "
                               f"{tr.stage}, beta {job.preference.beta}, loss {job.preference.loss_type}; "
                               "reference: the adapter as it starts"))
    args = step_setup.training_arguments(job, run_dir, base.hw, steps, has_eval=eval_set is not None,
                                         extra=dpo_arguments(job), config_class=DPOConfig)
    optimizer = adapter_setup.build_optimizer(model, job.lora, tr.learning_rate, tr.weight_decay, tr.optimizer)
    sampler = training.sampler_for(model, base.tokenizer, tr.sample_prompt) if tr.sample_steps else None
    callback = ProtocolCallback(emit, control, sampler=sampler, sample_steps=tr.sample_steps,
                                stage_metrics=STAGE_METRICS)
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=train_set, eval_dataset=eval_set,
                         processing_class=base.tokenizer, callbacks=[callback, *adapter_setup.step_callbacks(model)],
                         optimizers=(optimizer, None))
    trainer.remove_callback(transformers.PrinterCallback)

    resume = training.resume_checkpoint(job, run_dir, emit)
    if resume is not None:
        emit(protocol.Phase("training", detail=f"resuming from {resume}"))
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    metrics = _metrics(trainer, callback, eval_set is not None, emit, float(result.training_loss), trainable, total)

    emit(protocol.Phase("saving"))
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    if REFERENCE_ADAPTER in unwrapped.peft_config:  # the frozen starting copy: not part of what was trained
        unwrapped.delete_adapter(REFERENCE_ADAPTER)
    dataset = DatasetRef(path=str(rows.path), format=rows.loaded.format, fingerprint=rows.loaded.fingerprint,
                         rows=rows.loaded.rows_total, rows_train=len(train_set), rows_eval=len(rows.evaluated),
                         rows_held_out=len(rows.held_out))
    outputs = training.write_adapter(job, run_dir, base, unwrapped, dataset, metrics, parent, initial_adapter,
                                     stopped=control.stop_requested, step=trainer.state.global_step)
    return PreferenceRun(unwrapped, base.tokenizer, trainer, outputs)


def _metrics(trainer, callback: ProtocolCallback, evaluate: bool, emit: training.Emit, mean_loss: float,
             trainable: int, total: int) -> TrainMetrics:
    """The run's numbers: SFT's where they mean the same, and the stage's last rewards/* and logps/*
    (training) and eval_rewards/* (the held-out pairs, evaluated at the end if not at this step)."""
    step = trainer.state.global_step
    metrics: dict[str, Any] = {
        "train_loss": callback.last_loss,
        "mean_train_loss": mean_loss if math.isfinite(mean_loss) else None,
        "steps": step,
        "trainable_parameters": trainable,
        "total_parameters": total,
        **callback.run_metrics(),
    }
    if evaluate:
        if not (callback.last_eval and callback.last_eval[0] == step):
            emit(protocol.Phase("evaluating", detail="on the held-out pairs"))
            trainer.evaluate()  # the callback keeps its loss and numbers
        if callback.last_eval is not None:
            metrics["eval_loss"] = callback.last_eval[1]
    preference = dict(callback.last_preference or {})
    preference.update({f"eval_{key}": value for key, value in (callback.last_eval_preference or {}).items()})
    metrics["preference"] = preference or None
    return TrainMetrics.from_dict(metrics, "the run's metrics")
