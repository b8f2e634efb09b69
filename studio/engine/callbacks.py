"""The bridge from the Trainer's lifecycle to protocol events and user commands."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from studio.core import protocol
from studio.engine import distributed
from studio.engine.control import Cancelled, JobControl


class ProtocolCallback(TrainerCallback):
    """Emits step/eval/checkpoint/sample events; applies stop, pause and checkpoint."""

    def __init__(self, emit: Callable[[protocol.Event], None], control: JobControl,
                 sampler: Callable[[], tuple[str, str]] | None = None, sample_steps: int = 0,
                 fail_on_nan: bool = True):
        self.emit = emit
        self.job = control
        self.sampler = sampler
        self.sample_steps = sample_steps
        self.fail_on_nan = fail_on_nan
        self.started = time.monotonic()
        self.first_step: int | None = None
        self.last_tokens = 0
        self.last_time = self.started
        self.last_loss: float | None = None
        self.last_eval: tuple[int, float] | None = None  # (step, eval loss)

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = self.last_time = time.monotonic()
        self.first_step = state.global_step
        self.last_tokens = getattr(state, "num_input_tokens_seen", 0) or 0
        self.emit(protocol.Phase("training", done=state.global_step, total=state.max_steps))

    def on_step_end(self, args, state, control, **kwargs):
        if self.job.cancel_requested:
            raise Cancelled()
        paused = self.job.paused
        if paused:
            self.emit(protocol.Phase("paused", done=state.global_step, total=state.max_steps))
        if distributed.active():
            # Every rank must stop, save and pause at the same step: act on what all agree.
            agreed = distributed.agree(self.job)
            self._apply_requests(control, agreed.stop, agreed.checkpoint)
        else:
            if paused:
                self.job.wait_while_paused()
            self._apply_requests(control)
        if paused:
            self.emit(protocol.Phase("training", done=state.global_step, total=state.max_steps))
        if self.sampler and self.sample_steps and state.global_step % self.sample_steps == 0:
            prompt, text = self.sampler()
            self.emit(protocol.Sample(step=state.global_step, prompt=prompt, text=text))

    def _apply_requests(self, control, stop: bool | None = None, checkpoint: bool | None = None) -> None:
        """Act on stop/checkpoint: the live flags by default, the agreed ones across ranks."""
        if self.job.take_checkpoint_request() if checkpoint is None else checkpoint:
            control.should_save = True
        if (self.job.stop_requested if stop is None else stop) and not control.should_training_stop:
            # Stop = finish this step, then save: a checkpoint too, so the run can resume.
            control.should_training_stop = True
            control.should_save = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return
        loss = float(logs["loss"])
        if not math.isfinite(loss) and self.fail_on_nan:
            raise FloatingPointError(f"the loss became {loss} at step {state.global_step}")
        self.last_loss = loss
        now = time.monotonic()
        tokens = getattr(state, "num_input_tokens_seen", 0) or 0
        dt = now - self.last_time
        tokens_per_s = (tokens - self.last_tokens) / dt if dt > 0 and tokens else None
        self.last_tokens, self.last_time = tokens, now
        elapsed = now - self.started
        done = state.global_step - (self.first_step or 0)
        left = state.max_steps - state.global_step
        eta = elapsed / done * left if done > 0 else None
        self.emit(protocol.Step(
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=round(float(state.epoch or 0.0), 4),
            loss=loss,
            lr=float(logs.get("learning_rate", 0.0)),
            grad_norm=_maybe_float(logs.get("grad_norm")),
            tokens_per_s=tokens_per_s,
            elapsed_s=round(elapsed, 3),
            eta_s=None if eta is None else round(eta, 1),
        ))
        if not distributed.active():  # across ranks, commands act only where all agree (step end)
            self._apply_requests(control)  # a command that arrived during this step acts now

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss is not None:
            self.last_eval = (state.global_step, float(loss))
            self.emit(protocol.Eval(step=state.global_step, eval_loss=float(loss), perplexity=_perplexity(loss)))

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.emit(protocol.Checkpoint(step=state.global_step, path=str(path)))


def _perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def _maybe_float(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
