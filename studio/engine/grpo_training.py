"""A GRPO run: TRL's GRPOTrainer behind the same worker protocol as SFT and the preference stages.

Each step takes training.batch_size prompts, samples grpo.num_generations answers to each with the
model itself (transformers' generate, the adapter on), scores every answer with the job's reward
functions (core.rewards: presets and a user's reward.py) and learns from how each answer scores
against the others of its group. What it shares with the other stages is engine.training's and
engine.preference_training's: loading, the rows for the stage, the adapter, the Trainer's arguments,
the protocol callback (steps, pause, stop, checkpoints), resume and the save with its card.

A step's numbers are TRL's (reward, reward_std, rewards/<reward>/mean, completions/mean_length,
kl, entropy), sent as the step's stage numbers; every grpo.sample_steps steps a few answers with
each reward's score go out as a ``completions`` event. A user's reward file that raises is
reported with its file and line: the run stops, or (grpo.on_reward_error = "skip") that reward is
left out of the batch's total with a warning and the run goes on.

training.batch_size counts prompts here (TRL's per-device batch counts answers: batch x group).
training.max_length is the longest prompt plus answer: prompts longer than it less
grpo.max_completion_length are left out, with a warning naming how many.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import transformers

from studio.core import protocol
from studio.core.cards import DatasetRef
from studio.core.chat_segments import TemplateSupport, template_messages
from studio.core.datasets import DatasetError, Example
from studio.core.datasets.prompts import column_names
from studio.core.job_schema import JobError
from studio.core.jobs import TrainJob
from studio.core.rewards import (
    USER_FILE_KIND,
    CombinedReward,
    RewardSettingsError,
    UserRewardError,
    combined_from_specs,
)
from studio.core.rewards.text import completion_text
from studio.engine import adapter_setup, data_prep, step_setup, trackers, training
from studio.engine.callbacks import ProtocolCallback
from studio.engine.control import JobControl
from studio.engine.preference_training import PreferenceRun, run_and_save, trl_class, with_adapter

log = logging.getLogger(__name__)
# TRL's logged numbers that are GRPO's own: sent with each step as its stage numbers.
GRPO_METRICS = ("reward", "rewards/", "completions/", "kl", "entropy", "frac_reward_zero_std", "clip_ratio/")
SAMPLES_SHOWN = 4  # answers sent per completions event: one group's worth at the default group size
SAMPLE_CHARS = 2000  # of each prompt and answer sent (the log keeps a line per event)


def rewards_of(job: TrainJob) -> CombinedReward:
    """The job's reward tables built (a user's file is loaded: its code runs from here on)."""
    try:
        return combined_from_specs(job.grpo.rewards)
    except (RewardSettingsError, UserRewardError) as error:
        raise JobError([_issue(str(error))]) from error


def _issue(message: str):
    from studio.core.job_schema import Issue

    return Issue("grpo.rewards", message)


def prompt_rows(examples: list[Example], tokenizer) -> list[dict[str, Any]]:
    """Each prompt as TRL's conversational row (its turns for the chat template), with the row's columns
    for the rewards; tools as JSON, as the preference stages give them."""
    support = TemplateSupport.of(data_prep.template_text(tokenizer))
    with_tools = any(example.tools for example in examples)
    rows = []
    for example in examples:
        messages, tools, _ = template_messages(example, support)
        row: dict[str, Any] = {**example.columns, "prompt": messages}
        if with_tools:
            row["tools"] = json.dumps(tools)
        rows.append(row)
    return rows


def fitting_prompts(rows: list[dict[str, Any]], tokenizer, longest: int) -> tuple[list[dict[str, Any]], int]:
    """The rows whose prompt, rendered for generation, is at most ``longest`` tokens, and how many were not."""
    kept = []
    for row in rows:
        tools = json.loads(row["tools"]) if "tools" in row else None
        ids = tokenizer.apply_chat_template(row["prompt"], tools=tools, add_generation_prompt=True, tokenize=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        if len(ids) <= longest:
            kept.append(row)
    return kept, len(rows) - len(kept)


class RewardCalls:
    """The job's rewards as TRL's reward functions: each keeps the batch's scores for the samples sent
    to the Monitor, and a user file's error is the job's choice (grpo.on_reward_error)."""

    def __init__(self, combined: CombinedReward, on_error: str, emit: training.Emit):
        self.combined, self.on_error, self.emit = combined, on_error, emit
        self.prompts: list[Any] = []
        self.completions: list[Any] = []
        self.scores: dict[str, list[float | None]] = {}
        self.failures: dict[str, int] = {}  # reward label -> batches it failed (skip)

    def functions(self) -> list[Callable[..., list[float | None]]]:
        return [self._wrapped(label, function)
                for label, function in zip(self.combined.labels, self.combined.trl_functions(), strict=True)]

    def _wrapped(self, label: str, function: Callable[..., list[float]]) -> Callable[..., list[float | None]]:
        def reward(prompts, completions, **columns) -> list[float | None]:
            if completions is not self.completions:  # the batch's first reward: a new batch
                self.prompts, self.completions, self.scores = list(prompts or []), completions, {}
            try:
                scores: list[float | None] = list(function(prompts, completions, **columns))
            except UserRewardError as error:
                if self.on_error == "stop":
                    raise
                scores = [None] * len(completions)  # TRL leaves a None out of the total (nan-aware sums)
                self.failures[label] = self.failures.get(label, 0) + 1
                if self.failures[label] == 1:
                    self.emit(protocol.Warning(f"reward {label} failed and is left out of this batch's total "
                                               f"(grpo.on_reward_error = 'skip'; later failures are counted, "
                                               f"not repeated): {error}"))
            self.scores[label] = scores
            return scores

        reward.__name__ = label  # TRL logs rewards/<name>/mean
        return reward

    def samples(self, shown: int = SAMPLES_SHOWN) -> list[dict[str, Any]]:
        """The last batch's first ``shown`` answers (one group at the default size), with every score."""
        weights = dict(zip(self.combined.labels, self.combined.weights(), strict=True))
        samples = []
        for index in range(min(shown, len(self.completions))):
            scores = {label: values[index] for label, values in self.scores.items() if index < len(values)}
            total = sum(weights[label] * value for label, value in scores.items() if value is not None)
            samples.append({"prompt": _prompt_text(self.prompts[index] if index < len(self.prompts) else "")[-SAMPLE_CHARS:],
                            "completion": completion_text(self.completions[index])[:SAMPLE_CHARS],
                            "rewards": scores, "total": total})
        return samples


def _prompt_text(prompt: Any) -> str:
    """A prompt as a reader wants it: the last user turn of a conversational prompt."""
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1]) if users else ""
    return str(prompt)


class CompletionsCallback(transformers.TrainerCallback):
    """Sends a few answers with their rewards every ``every`` steps, after the step's own event."""

    def __init__(self, calls: RewardCalls, emit: training.Emit, every: int):
        self.calls, self.emit, self.every = calls, emit, every

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.every and "loss" in (logs or {}) and state.global_step % self.every == 0 and self.calls.completions:
            self.emit(protocol.Completions(step=state.global_step, samples=self.calls.samples()))


def grpo_arguments(job: TrainJob, weights: list[float]) -> dict[str, Any]:
    """GRPOConfig's fields the job sets, beside the Trainer's (engine.step_setup)."""
    g, tr = job.grpo, job.training
    answers = tr.batch_size * g.num_generations  # TRL's batches count answers
    return {
        "per_device_train_batch_size": answers,
        "per_device_eval_batch_size": answers,
        "num_generations": g.num_generations,
        "max_completion_length": g.max_completion_length,
        "temperature": g.temperature,
        "beta": g.beta,
        "num_iterations": g.num_iterations,
        "reward_weights": weights,
        "steps_per_generation": tr.grad_accum,
        # Generation keeps a KV cache (training turns the model's off: engine.adapter_setup).
        "generation_kwargs": {"use_cache": True},
        "gradient_checkpointing": False,  # engine.adapter_setup checkpoints the layers when the job asks
        "log_completions": False,  # the completions events carry them
        "include_num_input_tokens_seen": "no",  # TRL counts prompt and answer tokens itself
        "use_transformers_continuous_batching": g.generation == "batched",
    }


def train_grpo(job: TrainJob, run_dir: Path, emit: training.Emit, control: JobControl) -> PreferenceRun:
    """Load, read the prompts, train with TRL's GRPOTrainer, evaluate the held-out prompts and save."""
    import datasets

    trainer_class, config_class = trl_class("GRPOTrainer"), trl_class("GRPOConfig")
    tr, g = job.training, job.grpo
    transformers.set_seed(tr.seed)
    for spec in g.rewards:
        if spec.get("kind") == USER_FILE_KIND:  # said before its code first runs (it loads in rewards_of)
            emit(protocol.Warning(f"reward file {spec.get('path')} is your own Python code: it runs in this "
                                  "worker with your rights"))
    calls = RewardCalls(rewards_of(job), g.on_reward_error, emit)
    rows = training.read_rows(job, emit)
    missing = calls.combined.column_problems(column_names(rows.examples))
    if missing:
        raise JobError([_issue(problem) for problem in missing])
    base = training.load_base(job.model, emit, tr.device, tr.precision)
    longest = tr.max_length - g.max_completion_length
    train_rows, left_out = fitting_prompts(prompt_rows(rows.train, base.tokenizer), base.tokenizer, longest)
    eval_rows, eval_left_out = fitting_prompts(prompt_rows(rows.evaluated, base.tokenizer), base.tokenizer, longest)
    if left_out or eval_left_out:
        emit(protocol.Warning(f"{left_out + eval_left_out} prompts are longer than {longest} tokens "
                              f"(training.max_length {tr.max_length} less grpo.max_completion_length "
                              f"{g.max_completion_length}) and were left out; raise training.max_length to keep them"))
    if not train_rows:
        raise DatasetError(rows.path, None, None, f"every training prompt is longer than {longest} tokens: raise "
                                                  "training.max_length or lower grpo.max_completion_length")
    train_set = datasets.Dataset.from_list(train_rows)
    eval_set = datasets.Dataset.from_list(eval_rows) if eval_rows else None
    adapted = with_adapter(job, base, run_dir, len(train_set))
    job, model, steps, trainable, total = adapted.job, adapted.model, adapted.steps, *adapted.parameters
    emit(protocol.Phase("preparing_data", done=len(train_set), total=len(rows.examples),
                        detail=f"{len(train_set)} train / {len(rows.held_out)} held-out prompts"
                               f"{training.evaluated_note(len(eval_rows), len(rows.held_out))}; grpo, "
                               f"{g.num_generations} answers per prompt, rewards: {', '.join(calls.combined.labels)}; "
                               f"{trainable:,} trainable of {total:,} parameters; {base.hw.device} {base.hw.precision}"))
    args = step_setup.training_arguments(job, run_dir, base.hw, steps, has_eval=eval_set is not None,
                                         extra=grpo_arguments(job, calls.combined.weights()), config_class=config_class)
    optimizer = adapter_setup.build_optimizer(model, job.lora, tr.learning_rate, tr.weight_decay, tr.optimizer)
    callback = ProtocolCallback(emit, control, stage_metrics=GRPO_METRICS)
    trainer = trainer_class(model=model, reward_funcs=calls.functions(), args=args, train_dataset=train_set,
                            eval_dataset=eval_set, processing_class=base.tokenizer,
                            callbacks=[callback, CompletionsCallback(calls, emit, g.sample_steps),
                                       *adapter_setup.step_callbacks(model)],
                            optimizers=(optimizer, None))
    trainer.remove_callback(transformers.PrinterCallback)
    trackers.adopt(trainer)
    dataset = DatasetRef(path=str(rows.path), format=rows.loaded.format, fingerprint=rows.loaded.fingerprint,
                         rows=rows.loaded.rows_total, rows_train=len(train_set), rows_eval=len(eval_rows),
                         rows_held_out=len(rows.held_out))

    def report_failures(_unwrapped) -> None:
        if calls.failures:
            emit(protocol.Warning("rewards left out after failing (grpo.on_reward_error = 'skip'): " + ", ".join(
                f"{label} in {count} batch{'es' if count > 1 else ''}" for label, count in calls.failures.items())))

    return run_and_save(run_dir, emit, control, trainer, callback, base, adapted, dataset, finished=report_failures)
