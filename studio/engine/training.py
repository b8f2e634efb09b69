"""A train job from start to finish: ``setup`` (load, prepare the data, add the adapter, choose
the step), ``fit`` (train, evaluate) and ``save`` (the adapter and its card).

The lifecycle follows torchtune's recipes (setup / train / save); the engine never
prints and never reads commands: it reports through ``emit`` and obeys ``control``,
both given by the worker.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers

from studio.core import atomic, cards, compile_choice, methods, protocol, resumable, runs, step_time
from studio.core.cards import BaseModelRef, DatasetRef
from studio.core.datasets import evaluation_sample, load_job_dataset, split_train_eval
from studio.core.datasets.stages import trained_rows
from studio.core.faults import fault_from_environment
from studio.core.jobs import ModelSettings, TrainJob
from studio.core.library import locate_adapter
from studio.core.models import check_loadable, inspect_model
from studio.core.outputs import TrainMetrics, TrainOutputs
from studio.core.paths import user_path
from studio.core.resources import resolve_dataset_path
from studio.engine import (
    adapter_setup,
    data_prep,
    distributed,
    eval_plan,
    fast_path,
    hardware,
    layer_setup,
    memory_report,
    model_loading,
    step_setup,
    trackers,
)
from studio.engine.callbacks import ProtocolCallback
from studio.engine.control import JobControl
from studio.engine.guarded_trainer import GuardedTrainer, fail_saving_if_drilled

log = logging.getLogger(__name__)
Emit = Callable[[protocol.Event], None]


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    folder: Path
    source: Path
    hw: hardware.Hardware


@dataclass(frozen=True)
class Parallel:
    """How this process shares the job with others (torchrun): "ddp" or "fsdp"."""
    strategy: str = "single"
    backend: str = ""

    @property
    def sharded(self) -> bool:
        return self.strategy == "fsdp"


def load_base(settings: ModelSettings, emit: Emit, device: str = "auto", precision: str = "auto",
              sharded: bool = False) -> Loaded:
    emit(protocol.Phase("loading_model", detail=settings.path))
    source = model_loading.resolve_model_path(settings.path)
    folder = None
    if distributed.is_main_process():
        folder = model_loading.ensure_hf_folder(source, lambda line, done=None, total=None: emit(
            protocol.Phase("loading_model", done=done, total=total, detail=line)))  # a .gguf: tensors converted
    distributed.barrier()  # a .gguf is converted once, by rank 0, before the others look for it
    folder = folder or model_loading.ensure_hf_folder(source)
    check_loadable(folder, settings.allow_pickle)  # a broken folder is named here, not deep in the loader
    if settings.trust_remote_code:
        emit(protocol.Warning(f"model.trust_remote_code is on: Python code shipped with {folder.name} runs in "
                              "this worker. Only for models you trust."))
    hw = hardware.choose(device, precision)
    tokenizer = model_loading.load_tokenizer(folder, settings.trust_remote_code)
    model = model_loading.load_model(folder, hw, settings.quantization, settings.trust_remote_code,
                                     sharded=sharded)
    return Loaded(model, tokenizer, folder, source, hw)


def total_steps(rows: int, job: TrainJob, processes: int = 1) -> int:
    """Optimizer steps for the job; each step takes batch x accumulation rows on every process."""
    tr = job.training
    if tr.max_steps > 0:
        return tr.max_steps
    return step_time.optimizer_steps(rows, tr.batch_size, tr.grad_accum, tr.epochs, processes)


@dataclass
class TrainResult:
    model: Any  # the trained PeftModel, still in memory
    tokenizer: Any
    outputs: TrainOutputs  # the ``done`` event's outputs


def run_training(job: TrainJob, run_dir: Path, emit: Emit, control: JobControl,
                 parallel: Parallel | None = None) -> TrainOutputs:
    """Train ``job`` in ``run_dir``; returns the ``done`` event's outputs. A preference stage
    trains with TRL (engine.preference_training, imported only for it: TRL costs a worker's start).
    The trackers of training.report_to follow the run (engine.trackers)."""
    with trackers.tracking(job, Path(run_dir), emit) as tracked:
        if job.training.stage == "grpo":
            from studio.engine.grpo_training import train_grpo

            outputs = train_grpo(job, Path(run_dir), emit, control).outputs
        elif job.training.stage != "sft":
            from studio.engine.preference_training import train_preference

            outputs = train_preference(job, Path(run_dir), emit, control).outputs
        else:
            outputs = train(job, run_dir, emit, control, parallel).outputs
        tracked.finish(outputs)
    return outputs


def train(job: TrainJob, run_dir: Path, emit: Emit, control: JobControl,
          parallel: Parallel | None = None) -> TrainResult:
    """Load, prepare, train, evaluate and save; the model stays available to the caller.

    Under torchrun (``parallel``) every rank runs this; only rank 0 writes the adapter.
    """
    session = setup(job, Path(run_dir), emit, control, parallel or Parallel())
    metrics = fit(session)
    return TrainResult(session.model, session.tokenizer, save(session, metrics))


@dataclass(frozen=True)
class TrainData:
    path: Path
    loaded: Any  # core.datasets' LoadedDataset: format, fingerprint, rows
    prepared: data_prep.PreparedData
    rows: int  # the examples taken (dataset.max_rows)
    held_out: int  # rows split off for evaluation (at most dataset.eval_max_rows of them evaluated)


@dataclass
class Session:
    """Everything ``setup`` made, for ``fit`` and ``save``. ``job`` is the job as really trained:
    continuing an adapter takes the parent's method and shape (a copy; the caller's job and
    job.json stay as they were asked)."""
    job: TrainJob
    run_dir: Path
    emit: Emit
    control: JobControl
    parallel: Parallel
    base: Loaded
    model: Any
    tokenizer: Any
    data: TrainData
    evaluation: eval_plan.EvalPlan  # the held-out rows evaluated, sized for the job
    parent: str | None
    trainable: int
    total: int
    steps: int
    initial_adapter: Path | None
    step: step_setup.StepSetup
    trainer: GuardedTrainer
    callback: ProtocolCallback
    fault: Any

    @property
    def main(self) -> bool:
        return distributed.is_main_process()


def setup(job: TrainJob, run_dir: Path, emit: Emit, control: JobControl, parallel: Parallel) -> Session:
    """Load the base and the data, then add the adapter, choose the step and build the Trainer (``build``)."""
    transformers.set_seed(job.training.seed)
    base = load_base(job.model, emit, job.training.device, job.training.precision, sharded=parallel.sharded)
    data = _prepare_data(job, base.tokenizer, emit)
    return build(job, run_dir, emit, control, parallel, base, data)


@dataclass(frozen=True)
class Ablation:
    """What a measurement changes in the step the job would get (``lora-studio bench``'s modes,
    engine.bench); the worker's is none of it."""
    adjust: Callable[[fast_path.FastPath], fast_path.FastPath] | None = None  # the chosen path, before it is applied
    choice_steps: int | None = None  # the steps the compile choice weighs, where not the job's
    adapted: Callable[[Any], None] | None = None  # a change to the model once its adapter is on
    synced: bool = False  # every step's numbers wait for the GPU (no engine.step_log)


def build(job: TrainJob, run_dir: Path, emit: Emit, control: JobControl, parallel: Parallel, base: Loaded,
          data: TrainData, ablation: Ablation = Ablation()) -> Session:
    """Add the adapter to ``base``'s model, choose the step for ``data`` and build the Trainer, its
    collators and callbacks. The worker's ``setup`` and ``lora-studio bench`` (a random model and
    random rows of fixed shapes) both come here, so the benchmark measures this Trainer, not a copy."""
    parent_folder, parent = continued(job)
    world = distributed.current().world_size
    steps = total_steps(len(data.prepared.train), job, world)
    model = adapter_setup.apply_adapter(base.model, job.lora, job.training.gradient_checkpointing,
                                        quantized=job.model.quantization != "none", continue_from=parent_folder,
                                        total_steps=steps)
    job = as_trained(job, model, parent_folder)
    if ablation.adapted is not None:
        ablation.adapted(model)
    trainable, total = adapter_setup.trainable_parameters(model)
    main = distributed.is_main_process()
    initial_adapter = adapter_setup.save_initial_adapter(model, job.lora, run_dir) if main else None
    prepared = data.prepared
    evaluation = eval_plan.plan(prepared.eval, data.held_out, job, steps, world)
    log.info("evaluations: %s", evaluation.describe())
    emit(protocol.Phase("preparing_data", done=len(prepared.train), total=data.rows,
                        detail=f"{len(prepared.train)} train / {data.held_out} held-out rows"
                               f"{evaluated_note(evaluation.rows, data.held_out)}; "
                               f"{trainable:,} trainable of {total:,} parameters; {base.hw.device} "
                               f"{base.hw.precision}; packing {'on' if job.training.packing else 'off'}"))

    step = step_setup.prepare(model, base.tokenizer, job, run_dir, base.hw,
                              lengths=[len(ids) for ids in prepared.train["input_ids"]], steps=steps,
                              has_eval=evaluation.dataset is not None, trainable=trainable, total=total,
                              strategy=parallel.strategy, backend=parallel.backend, adjust=ablation.adjust,
                              choice_steps=ablation.choice_steps)
    emit(protocol.Phase("preparing_data", detail=f"fast path: {step.path.describe()}"))
    # A sample is a generate() on rank 0 alone: fine for DDP, a deadlock on sharded weights.
    sampler = sampler_for(model, base.tokenizer, job.training.sample_prompt) if main and not parallel.sharded else None
    callback = ProtocolCallback(emit, control, sampler=sampler, sample_steps=job.training.sample_steps,
                                compiling=step.path.compile)
    fault = fault_from_environment()
    trainer = GuardedTrainer(
        on_nan=job.training.on_nan, fault=fault, emit=emit,
        model=model,
        args=step.args,
        train_dataset=prepared.train,
        eval_dataset=evaluation.dataset,
        data_collator=callback.counted(step.collator),
        graphs=step.graphs,
        lagged=None if ablation.synced else step.lagged,
        output_loss=step.output_loss,
        eval_collator=step.eval_collator,
        callbacks=[callback, *adapter_setup.step_callbacks(model)],
        optimizers=(step.optimizer, None),
    )
    trainer.remove_callback(transformers.PrinterCallback)
    trackers.adopt(trainer)
    return Session(job, run_dir, emit, control, parallel, base, model, base.tokenizer, data, evaluation, parent,
                   trainable, total, steps, initial_adapter, step, trainer, callback, fault)


def fit(session: Session) -> TrainMetrics:
    """Train (or resume, or adopt a finished checkpoint), then evaluate; the run's metrics."""
    job, trainer, callback, emit, steps = session.job, session.trainer, session.callback, session.emit, session.steps
    resume = resume_checkpoint(job, session.run_dir, emit)
    if resume is not None:
        emit(protocol.Phase("training", detail=f"resuming from {resume}"))
    if resume is not None and _completed(resume, steps):
        # The run had finished training and failed while saving (a full disk, a crash):
        # take the weights from the last checkpoint instead of training past max_steps.
        training_loss = _adopt_checkpoint(trainer, resume, callback)
        emit(protocol.Phase("training", done=steps, total=steps, detail=f"all {steps} steps were done in {resume.name}"))
    else:
        training_loss = float(trainer.train(resume_from_checkpoint=str(resume) if resume else None).training_loss)
    path = session.step.path
    if trainer.graphs is not None:
        log.info(trainer.graphs.stats.describe())
    if path.compile:
        log.info(layer_setup.compile_summary())
        if layer_setup.compiled_graphs():  # not when dynamo fell back to eager: nothing was cached
            compile_choice.remember(fast_path.cache_key(session.step.size, path.packing, path.varying_lengths))

    prepared = session.data.prepared
    metrics: dict[str, Any] = {
        "train_loss": callback.last_loss,
        "mean_train_loss": training_loss,
        "steps": trainer.state.global_step,
        "train_tokens": prepared.train_tokens,
        "trainable_parameters": session.trainable,
        "total_parameters": session.total,
        **callback.run_metrics(),  # tokens_per_s (the run's real average), train_seconds, tokens_trained
    }
    if trainer.skipped_steps:
        metrics["skipped_steps"] = trainer.skipped_steps
    if trainer.graphs is not None:
        metrics["graphed_steps"] = trainer.graphs.stats.replayed
    if session.evaluation.dataset is not None:
        if callback.last_eval and callback.last_eval[0] == trainer.state.global_step:
            eval_loss = callback.last_eval[1]  # the periodic eval already ran at this step
        else:
            emit(protocol.Phase("evaluating", detail=f"on {session.evaluation.describe()}"))
            eval_loss = float(trainer.evaluate()["eval_loss"])  # eagerly (GuardedTrainer.evaluate)
        metrics.update(eval_loss=eval_loss, perplexity=math.exp(min(eval_loss, 50.0)))
    world, strategy = distributed.current().world_size, session.parallel.strategy
    if session.base.hw.device == "cuda":
        config = session.model.config  # the attention it really ran (core.vram_families: eager keeps the scores)
        config_dict = dict(config.to_dict(), attn_implementation=getattr(config, "_attn_implementation", None))
        metrics.update(memory_report.gpu_memory_metrics(job, config_dict,
                                                        session.total - session.trainable, gpus=world,
                                                        strategy=strategy, path=path))
    if world > 1:
        metrics.update(processes=world, strategy=strategy)
    return TrainMetrics.from_dict(metrics, "the run's metrics")


def save(session: Session, metrics: TrainMetrics) -> TrainOutputs:
    """Write the adapter, its card and README into the run folder, all or nothing."""
    session.emit(protocol.Phase("saving"))
    job, data, trainer, stopped = session.job, session.data, session.trainer, session.control.stop_requested
    # Sharded weights are gathered by every rank together; rank 0 alone writes them.
    state_dict = trainer.accelerator.get_state_dict(trainer.model) if session.parallel.sharded else None
    if not session.main:
        return TrainOutputs(metrics=metrics, stopped=stopped)
    dataset = DatasetRef(path=str(data.path), format=data.loaded.format, fingerprint=data.loaded.fingerprint,
                         rows=data.loaded.rows_total, rows_train=len(data.prepared.train),
                         rows_eval=session.evaluation.rows, rows_held_out=data.held_out,
                         train_on=job.dataset.train_on)
    return write_adapter(job, session.run_dir, session.base, session.model, dataset, metrics, session.parent,
                         session.initial_adapter, stopped=stopped, state_dict=state_dict, fault=session.fault,
                         step=trainer.state.global_step)


def write_adapter(job: TrainJob, run_dir: Path, base: Loaded, model, dataset: DatasetRef, metrics: TrainMetrics,
                  parent: str | None, initial_adapter: Path | None, *, stopped: bool, state_dict: dict | None = None,
                  fault: Any = None, step: int = 0) -> TrainOutputs:
    """The trained adapter, its card and README in ``run_dir``'s adapter folder, staged and renamed
    into place (every stage's run ends here)."""
    name = job.output.name or (parent.split("/")[0] if parent and "/" in parent else "") or _default_name(
        base.source, Path(dataset.path or ""), job.training.stage)
    adapter_dir = run_dir / runs.ADAPTER_NAME
    peft_config = _json_safe(model.peft_config["default"].to_dict())
    card = cards.build_card(peft_config, job=job, name=name, base_model=_base_info(job, base),
                            run_id=run_dir.name, dataset=dataset, metrics=metrics,
                            parents=[parent] if parent else ())
    with atomic.staged_dir(adapter_dir) as stage:
        adapter_setup.save_adapter(model, stage, initial_adapter, state_dict)
        fail_saving_if_drilled(fault, step, stage)
        cards.write_card(stage, card)
        atomic.write_text(stage / "README.md", cards.card_readme(card))
    return TrainOutputs(adapter_path=str(adapter_dir), base_model_path=str(base.folder), name=name,
                        metrics=metrics, stopped=stopped)


@dataclass(frozen=True)
class JobRows:
    """The job's examples as read for its stage, split into training rows and held-out ones."""
    path: Path
    loaded: Any  # core.datasets' LoadedDataset
    examples: list  # the examples taken (dataset.max_rows), as the stage's rows (KTO: pairs unpaired)
    train: list
    held_out: list
    evaluated: list  # the held-out rows evaluated (dataset.eval_max_rows)


def read_rows(job: TrainJob, emit: Emit) -> JobRows:
    """Read the job's dataset for its stage (a file the stage can't train is refused), say what was
    left out, and split it (every stage's data starts here)."""
    emit(protocol.Phase("preparing_data", detail=job.dataset.path))
    data_path = resolve_dataset_path(job.dataset.path)
    loaded = load_job_dataset(job.dataset, data_path, stage=job.training.stage)
    for warning in loaded.warnings:
        emit(protocol.Warning(warning))
    if loaded.issues:
        listed = "; ".join(str(issue) for issue in loaded.issues[:20])
        emit(protocol.Warning(f"{len(loaded.issues)} of {loaded.rows_total} rows were left out (dataset.on_bad_rows "
                              f"= 'skip'): {listed}" + (" …" if len(loaded.issues) > 20 else "")))
    examples = loaded.examples[: job.dataset.max_rows] if job.dataset.max_rows else loaded.examples
    train_rows, held_out = split_train_eval(examples, job.dataset.eval_fraction, job.training.seed)
    # Split as read, then made the stage's rows: KTO unpairs a pair on the side of the split it fell on.
    stage = job.training.stage
    train_rows, held_out = trained_rows(stage, train_rows), trained_rows(stage, held_out)
    return JobRows(data_path, loaded, trained_rows(stage, examples), train_rows, held_out,
                   evaluation_sample(held_out, job.dataset.eval_max_rows))


def _prepare_data(job: TrainJob, tokenizer, emit: Emit) -> TrainData:
    rows = read_rows(job, emit)
    train_rows = rows.train
    for note in data_prep.rendering_notes(rows.examples, tokenizer):
        emit(protocol.Warning(note))
    chunking = data_prep.Chunking(job.dataset.chunk_text, job.dataset.chunk_overlap)
    prepared = data_prep.prepare(train_rows, rows.evaluated, tokenizer, job.training.max_length,
                                 job.dataset.train_on, chunking)
    note = data_prep.truncation_note(prepared, len(train_rows), job.training.max_length)
    if note:
        emit(protocol.Warning(note))
    if prepared.chunked:
        log.info("%d raw-text example(s) longer than %d tokens were split into blocks of that length "
                 "(dataset.chunk_text)", prepared.chunked, job.training.max_length)
    if prepared.dropped:
        emit(protocol.Warning(f"{prepared.dropped} example(s) had no response token left after truncation "
                              f"to {job.training.max_length} tokens and were skipped"))
    return TrainData(rows.path, rows.loaded, prepared, len(rows.examples), len(rows.held_out))


def as_trained(job: TrainJob, model, parent_folder: Path | None) -> TrainJob:
    """The job as really trained: continuing an adapter takes the parent's method and shape, which
    the card records (a copy; the caller's job stays as asked)."""
    if parent_folder is None:
        return job
    parent_config = model.peft_config["default"]
    return dataclasses.replace(job, lora=dataclasses.replace(
        job.lora, **methods.settings_from_peft(parent_config.to_dict()),
        target_modules=sorted(parent_config.target_modules)))


def evaluated_note(evaluated: int, held_out: int) -> str:
    return f" ({evaluated} of them evaluated)" if evaluated < held_out else ""


def continued(job: TrainJob) -> tuple[Path | None, str | None]:
    """(folder, lineage reference) of the adapter this run keeps training, if any."""
    if not job.lora.continue_from:
        return None, None
    folder, ref = locate_adapter(job.lora.continue_from)
    return folder, ref or str(folder)


def resume_checkpoint(job: TrainJob, run_dir: Path, emit: Emit) -> Path | None:
    """The checkpoint to resume from: "latest" passes over newer ones that are cut short or
    emptied (a warning names each) and is refused where none is usable."""
    ref = job.training.resume_from
    if not ref:
        return None
    if ref == "latest":
        point = resumable.resume_point(run_dir)
        for warning in point.warnings():
            emit(protocol.Warning(warning))
        if point.checkpoint is None:
            raise FileNotFoundError(point.refusal(job.training.save_steps))
        return point.checkpoint
    path = user_path(ref)
    if (problem := resumable.checkpoint_problem(path)) is not None:
        raise FileNotFoundError(f"{path} is not a complete checkpoint: {problem}")
    return path


def _completed(checkpoint: Path, steps: int) -> bool:
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("global_step", 0)) >= steps


def _adopt_checkpoint(trainer, checkpoint: Path, callback: ProtocolCallback) -> float:
    """Load a final checkpoint's adapter and state; returns its mean training loss."""
    import peft
    from safetensors.torch import load_file

    peft.set_peft_model_state_dict(trainer.model, load_file(str(checkpoint / "adapter_model.safetensors")))
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    trainer.state.global_step = int(state["global_step"])
    losses = [row["loss"] for row in state.get("log_history", []) if "loss" in row]
    callback.last_loss = losses[-1] if losses else None
    return float(sum(losses) / len(losses)) if losses else float("nan")


def sampler_for(model, tokenizer, prompt: str) -> Callable[[], tuple[str, str]]:
    def sample() -> tuple[str, str]:
        was_training = model.training
        model.eval()
        try:
            ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)["input_ids"].to(model.device)
            with torch.no_grad(), layer_setup.eager():
                out = model.generate(input_ids=ids, max_new_tokens=32, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
            return prompt, tokenizer.decode(out[0][ids.shape[1]:], skip_special_tokens=True)
        finally:
            model.train(was_training)
    return sample


def _base_info(job: TrainJob, base: Loaded) -> BaseModelRef:
    info = BaseModelRef(id=job.model.path, path=str(base.source), hf_folder=str(base.folder))
    try:
        meta = inspect_model(base.source)
        info.name, info.architecture, info.model_type = meta.name, meta.architecture, meta.model_type
        info.num_parameters, info.model_id = meta.num_parameters, meta.id
    except Exception as exc:  # noqa: BLE001 - the card is still useful without it
        log.warning("could not read base model metadata: %s", exc)
    if base.source.suffix == ".gguf":
        info.file_key = model_loading.gguf_cache_dir(base.source).name
    return info


def _default_name(model_path: Path, data_path: Path, stage: str) -> str:
    """model-dataset, and the stage beside SFT's: the shipped SFT and preference samples share a stem, and
    a DPO adapter must not become a new version of the SFT one by its name alone."""
    stem = model_path.stem.split(".")[0].lower()
    suffix = "" if stage == "sft" else f"-{stage}"
    return f"{stem}-{data_path.stem.split('.')[0].lower()}"[:80 - len(suffix)] + suffix


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: sorted(v) if isinstance(v, set) else str(v)))
