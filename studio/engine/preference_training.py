"""A preference stage's run (DPO, ORPO, SimPO, KTO): TRL's trainer behind the same worker protocol as SFT.

What every stage shares is engine.training's: loading the base, reading the rows for the stage,
adding the adapter (continue_from included), the Trainer's arguments, the protocol callback
(steps, evaluations, pause, stop, checkpoints), resume and the save with its card. What differs
per stage is one record in engine.preference_stages (TRL's trainer and config, the job fields the
config gets, the numbers it logs, what it needs done to its rows); this file runs any of them. The
rows go to TRL as conversational rows (message lists it renders through the model's chat template).

DPO and KTO train against the adapter as it started: given a peft model and no reference, TRL keeps
a frozen copy of the adapter ("ref") and computes the reference pass with it, so no second model
is loaded. For a new adapter that is the base itself (its update starts at zero); for
continue_from it is the parent (the usual SFT-then-DPO flow). The copy is never saved: a checkpoint
holds the trained adapter alone, and a resumed run's trainer makes the copy again from the same
starting adapter, as the first run's did.

The GPU fast path (Liger, compile, CUDA graphs, packing) is SFT's; a preference step runs plainly.
TRL is imported here only, when a job asks for a preference stage: it costs a worker's start.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import transformers

from studio.core import protocol
from studio.core.cards import DatasetRef
from studio.core.datasets import DatasetError, Example
from studio.core.datasets.stages import STAGE_ROWS
from studio.core.jobs import TrainJob
from studio.core.outputs import TrainMetrics, TrainOutputs
from studio.engine import adapter_setup, data_prep, memory_report, step_setup, trackers, training
from studio.engine.callbacks import ProtocolCallback
from studio.engine.control import JobControl
from studio.engine.preference_stages import (
    STAGES,
    PreferenceStage,
    in_training_order,
    length_notes,
    trl_rows,
)

log = logging.getLogger(__name__)
TRAINED_ADAPTER = "default"  # peft's name for the adapter being trained
REFERENCE_ADAPTER = "ref"  # the name TRL gives its frozen copy of the starting adapter


@dataclass
class PreferenceRun:
    model: Any  # the trained PeftModel, still in memory
    tokenizer: Any
    trainer: Any  # TRL's trainer, for a caller that evaluates more pairs
    outputs: TrainOutputs


def trl_class(name: str, experimental: str = "") -> Any:
    """TRL's class ``name``: from trl's top level where it is stable, else from its ``experimental``
    module (trl 1.x keeps CPO and ORPO there, and KTO was there before it was promoted)."""
    import trl

    found = getattr(trl, name, None)
    if found is None and experimental:
        with warnings.catch_warnings():  # its notice that the module is experimental: chosen knowingly
            warnings.simplefilter("ignore")
            found = getattr(importlib.import_module(experimental), name, None)
    if found is None:
        where = f"trl and {experimental}" if experimental else "trl"
        raise ImportError(f"TRL {trl.__version__} has no {name} (looked in {where}); this version needs trl>=1.0")
    return found


def stage_arguments(job: TrainJob, stage: PreferenceStage) -> dict[str, Any]:
    """The stage's config fields the job sets, beside the Trainer's (engine.step_setup)."""
    return {
        **job.preference.of_stage(stage.name),  # core.jobs.STAGE_SETTINGS: TRL's names
        **stage.fixed,
        "max_length": job.training.max_length,
        # engine.adapter_setup checkpoints the model's layers when the job asks; TRL's configs default it on.
        "gradient_checkpointing": False,
        # The Trainer counts each batch's real tokens (its mask) where its batches have input_ids; the
        # others are counted as their rows are collated (counted_tokens). The SFT path's counting
        # collator reads SFT rows, and a preference step has no host sync to save.
        "include_num_input_tokens_seen": "no" if stage.token_keys else "non_padding",
    }


def stage_rows(stage: PreferenceStage, examples: list[Example], tokenizer) -> list[dict[str, Any]]:
    """The rows as ``stage``'s trainer reads them: TRL's conversational rows, rendered through the chat
    template here (with their tools) where the trainer would render them without their tools."""
    rows = trl_rows(examples, tokenizer)
    if stage.renders_tools:
        return rows
    from trl import apply_chat_template

    return [apply_chat_template(row, tokenizer, tools=json.loads(row.pop("tools")) if "tools" in row else None)
            for row in rows]


class SequenceTokens(data_prep.CountingCollator):
    """Counts a batch's tokens from its tokenized rows' ``keys`` (CPO's and ORPO's rows hold each reply's
    whole sequence), where the Trainer finds no input_ids to count."""

    def __init__(self, inner, keys: tuple[str, ...]):
        super().__init__(inner)
        self.keys = keys

    def __call__(self, features):
        self.pending.append(sum(len(feature[key]) for feature in features for key in self.keys))
        return self.inner(features)


def train_preference(job: TrainJob, run_dir: Path, emit: training.Emit, control: JobControl) -> PreferenceRun:
    """Load, prepare the rows, train with the stage's TRL trainer, evaluate the held-out rows and save."""
    import datasets

    stage = STAGES[job.training.stage]
    trainer_class, config_class = (trl_class(stage.trainer, stage.experimental),
                                   trl_class(stage.config, stage.experimental))
    tr = job.training
    transformers.set_seed(tr.seed)
    base = training.load_base(job.model, emit, tr.device, tr.precision)
    rows = training.read_rows(job, emit)
    for note in data_prep.rendering_notes(rows.examples, base.tokenizer):
        emit(protocol.Warning(note))
    train_set = datasets.Dataset.from_list(
        in_training_order(stage, stage_rows(stage, rows.train, base.tokenizer), tr.seed))
    eval_set = datasets.Dataset.from_list(stage_rows(stage, rows.evaluated, base.tokenizer)) if rows.evaluated else None
    adapted = with_adapter(job, base, run_dir, len(train_set))
    job, model, steps, trainable, total = adapted.job, adapted.model, adapted.steps, *adapted.parameters
    kind = "pairs" if STAGE_ROWS[stage.name] == "pairs" else "rows"
    emit(protocol.Phase("preparing_data", done=len(train_set), total=len(rows.examples),
                        detail=f"{len(train_set)} train / {len(rows.held_out)} held-out {kind}"
                               f"{training.evaluated_note(len(rows.evaluated), len(rows.held_out))}; {trainable:,} "
                               f"trainable of {total:,} parameters; {base.hw.device} {base.hw.precision}; "
                               f"{stage.describe(job.preference)}"))
    args = step_setup.training_arguments(job, run_dir, base.hw, steps, has_eval=eval_set is not None,
                                         extra=stage_arguments(job, stage), config_class=config_class)
    optimizer = adapter_setup.build_optimizer(model, job.lora, tr.learning_rate, tr.weight_decay, tr.optimizer)
    sampler = training.sampler_for(model, base.tokenizer, tr.sample_prompt) if tr.sample_steps else None
    callback = ProtocolCallback(emit, control, sampler=sampler, sample_steps=tr.sample_steps,
                                stage_metrics=stage.metrics)
    trainer = trainer_class(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                            processing_class=base.tokenizer,
                            callbacks=[callback, *adapter_setup.step_callbacks(model)], optimizers=(optimizer, None))
    trainer.remove_callback(transformers.PrinterCallback)
    trackers.adopt(trainer)
    for before, tokenized, what in ((len(train_set), trainer.train_dataset, f"training {kind}"),
                                    (len(eval_set or ()), trainer.eval_dataset, f"held-out {kind}")):
        for note in length_notes(before, tokenized, tr.max_length, what) if tokenized is not None else ():
            emit(protocol.Warning(note))
    if not len(trainer.train_dataset):
        raise DatasetError(rows.path, None, None, f"every training {kind[:-1]}'s prompt alone fills "
                           f"training.max_length ({tr.max_length} tokens), so no reply token is left to learn: "
                           "raise training.max_length")
    if stage.token_keys:
        trainer.data_collator = callback.batches = SequenceTokens(trainer.data_collator, stage.token_keys)
    dataset = DatasetRef(path=str(rows.path), format=rows.loaded.format, fingerprint=rows.loaded.fingerprint,
                         rows=rows.loaded.rows_total, rows_train=len(train_set), rows_eval=len(rows.evaluated),
                         rows_held_out=len(rows.held_out))

    def drop_reference(unwrapped) -> None:
        if REFERENCE_ADAPTER in unwrapped.peft_config:  # the frozen starting copy: not part of what was trained
            unwrapped.delete_adapter(REFERENCE_ADAPTER)

    return run_and_save(run_dir, emit, control, trainer, callback, base, adapted, dataset, finished=drop_reference)


@dataclasses.dataclass(frozen=True)
class Adapted:
    """The model with the job's adapter on (a new one, or continued from a parent), and what the
    run's card and checkpoints need of it."""
    job: TrainJob  # as trained: a continued adapter's shape is its parent's
    model: Any
    steps: int
    parameters: tuple[int, int]  # (trainable, total)
    parent: Any
    initial_adapter: Any


def with_adapter(job: TrainJob, base, run_dir: Path, train_rows: int) -> Adapted:
    """Put the job's adapter on the loaded base for a TRL stage: what every stage does before its trainer."""
    parent_folder, parent = training.continued(job)
    steps = training.total_steps(train_rows, job)
    model = adapter_setup.apply_adapter(base.model, job.lora, job.training.gradient_checkpointing,
                                        quantized=job.model.quantization != "none", continue_from=parent_folder,
                                        total_steps=steps)
    job = training.as_trained(job, model, parent_folder)
    return Adapted(job, model, steps, adapter_setup.trainable_parameters(model), parent,
                   adapter_setup.save_initial_adapter(model, job.lora, run_dir))


def run_and_save(run_dir: Path, emit: training.Emit, control: JobControl, trainer, callback: ProtocolCallback,
                 base, adapted: Adapted, dataset: DatasetRef, finished: Callable[[Any], None]) -> PreferenceRun:
    """Train (or resume) a TRL trainer, gather its numbers and write the adapter: what every TRL stage
    does once its trainer is built. ``finished`` sees the trained model before it is saved."""
    job = adapted.job
    trainable, total = adapted.parameters
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    # Checkpoints (the Trainer saves through the model's save_pretrained) hold the trained adapter, not
    # TRL's frozen reference copy: a resumed run's trainer makes that copy again from the starting adapter.
    unwrapped.save_pretrained = functools.partial(unwrapped.save_pretrained, selected_adapters=[TRAINED_ADAPTER])
    resume = training.resume_checkpoint(job, run_dir, emit)
    if resume is not None:
        emit(protocol.Phase("training", detail=f"resuming from {resume}"))
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    metrics = _metrics(trainer, callback, trainer.eval_dataset is not None, emit, float(result.training_loss),
                       trainable, total,
                       memory=lambda: memory_report.gpu_memory_metrics(job, unwrapped.config.to_dict(), total - trainable)
                       if base.hw.device == "cuda" else {})
    finished(unwrapped)
    emit(protocol.Phase("saving"))
    outputs = training.write_adapter(job, run_dir, base, unwrapped, dataset, metrics, adapted.parent,
                                     adapted.initial_adapter, stopped=control.stop_requested,
                                     step=trainer.state.global_step)
    return PreferenceRun(unwrapped, base.tokenizer, trainer, outputs)


def _metrics(trainer, callback: ProtocolCallback, evaluate: bool, emit: training.Emit, mean_loss: float,
             trainable: int, total: int, memory: Callable[[], dict[str, Any]]) -> TrainMetrics:
    """The run's numbers: SFT's where they mean the same, and the stage's last own numbers (rewards/*,
    logps/*, ...: training) and eval_* ones (the held-out rows, evaluated at the end if not at this step)."""
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
            emit(protocol.Phase("evaluating", detail="on the held-out rows"))
            trainer.evaluate()  # the callback keeps its loss and numbers
        if callback.last_eval is not None:
            metrics["eval_loss"] = callback.last_eval[1]
    metrics.update(memory())  # the peak beside the estimate, as an SFT run records it (after the evaluation)
    preference = dict(callback.last_preference or {})
    preference.update({f"eval_{key}": value for key, value in (callback.last_eval_preference or {}).items()})
    metrics["preference"] = preference or None
    return TrainMetrics.from_dict(metrics, "the run's metrics")
