"""The bridge from the Trainer's lifecycle to protocol events and user commands.

Speed figures come from core.throughput (one place for their arithmetic); this file
feeds it the step times, pauses, interruptions and real token counts.

Every evaluation says how far it is (issue 21: after Stop, a 71 s final evaluation showed a
bar frozen at 73%): an ``evaluating`` phase with batches done of all, about
``EVAL_PROGRESS_EVENTS`` times a pass. A periodic evaluation hands back to ``training`` when it
ends, and a stop says so at once (a ``stopping`` phase), so a window sees which of its
buttons still apply.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from studio.core import protocol
from studio.core.throughput import Throughput
from studio.engine import data_prep, distributed
from studio.engine.control import Cancelled, JobControl

EVAL_PROGRESS_EVENTS = 20  # evaluating events per pass: a live bar, not a flood (as eval jobs report)
STOPPING_DETAIL = "finishing this step; then the final evaluation and the adapter are saved"


class ProtocolCallback(TrainerCallback):
    """Emits step/eval/checkpoint/sample events; applies stop, pause and checkpoint."""

    def __init__(self, emit: Callable[[protocol.Event], None], control: JobControl,
                 sampler: Callable[[], tuple[str, str]] | None = None, sample_steps: int = 0,
                 fail_on_nan: bool = True, compiling: bool = False, stage_metrics: tuple[str, ...] = ()):
        self.emit = emit
        # Prefixes of a preference trainer's own logged numbers (TRL's "rewards/", "logps/", and a stage's
        # own: ORPO's "log_odds_", KTO's "kl"; engine.preference_stages): sent with each step and
        # evaluation as their ``preference`` numbers.
        self.stage_metrics = stage_metrics
        self.last_preference: dict[str, float] | None = None
        self.last_eval_preference: dict[str, float] | None = None
        self._eval_logged: dict[str, float] | None = None  # the stage's numbers of the evaluation being logged
        self.compiling = compiling  # the first step compiles the layers: said, so a slow start is no surprise
        self.job = control
        self.sampler = sampler
        self.sample_steps = sample_steps
        self.fail_on_nan = fail_on_nan
        self.started = time.monotonic()
        self.last_loss: float | None = None
        self.last_eval: tuple[int, float] | None = None  # (step, eval loss)
        self.throughput = Throughput()
        self.batches: data_prep.CountingCollator | None = None  # None: the Trainer counts tokens
        self.trained_tokens = 0  # real tokens of the micro-batches trained so far (batches' count)
        self._train_batches = 0  # batches still waiting in ``batches`` at the last step end
        self.training = False  # between train begin and end: a periodic eval hands back to training
        self._eval_batches = 0  # batches of the evaluation in progress done so far

    def counted(self, collator):
        """``collator``, wrapped to count each batch's real tokens on the CPU (no host sync).

        Under torchrun the Trainer's gathered count stays: each rank sees only its batches."""
        if distributed.active():
            return collator
        self.batches = data_prep.CountingCollator(collator)
        return self.batches

    def _tokens(self, state) -> int:
        if self.batches is None:
            return getattr(state, "num_input_tokens_seen", 0) or 0
        return self.trained_tokens

    def _trained_one(self) -> None:
        """A micro-batch went through: its tokens, built (and noted) earlier, count now."""
        if self.batches is not None:
            self.trained_tokens += self.batches.take()

    def on_train_begin(self, args, state, control, **kwargs):
        self.training = True
        self.started = time.monotonic()
        self.throughput.start(state.global_step, self.started, self._tokens(state))
        self.emit(protocol.Phase("training", done=state.global_step, total=state.max_steps))
        if self.compiling:
            self.emit(protocol.Phase("compiling", detail="torch.compile of the decoder layers: the first steps "
                                                         "are slower"))

    def on_substep_end(self, args, state, control, **kwargs):
        self._trained_one()  # a micro-batch of gradient accumulation

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False
        self.throughput.finish(time.monotonic(), self._tokens(state))

    def run_metrics(self) -> dict[str, float | int]:
        """The ``done`` metrics on speed: the run's real average tokens/s, its training
        wall time (pauses taken out) and the real tokens it trained; empty if it never trained."""
        seconds, average = self.throughput.train_seconds, self.throughput.average_tokens_per_s()
        if seconds is None or average is None:
            return {}
        return {"tokens_per_s": round(average, 1), "train_seconds": round(seconds, 3),
                "tokens_trained": self.throughput.trained_tokens}

    def on_step_end(self, args, state, control, **kwargs):
        self._trained_one()  # the step's last micro-batch
        if self.compiling:
            self.compiling = False
            self.emit(protocol.Phase("training", done=state.global_step, total=state.max_steps))
        if self.batches is not None:
            self._train_batches = len(self.batches.pending)
        if self.job.cancel_requested:
            raise Cancelled()
        paused = self.job.paused
        held_from = time.monotonic()
        if paused:
            self.emit(protocol.Phase("paused", done=state.global_step, total=state.max_steps))
        if distributed.active():
            # Every rank must stop, save and pause at the same step: act on what all agree.
            agreed = distributed.agree(self.job)
            self._apply_requests(state, control, agreed.stop, agreed.checkpoint)
        else:
            if paused:
                self.job.wait_while_paused()
            self._apply_requests(state, control)
        if paused:
            self.throughput.pause(time.monotonic() - held_from)
            self.emit(protocol.Phase("training", done=state.global_step, total=state.max_steps))
        if self.sampler and self.sample_steps and state.global_step % self.sample_steps == 0:
            self.throughput.interrupt()
            prompt, text = self.sampler()
            self.emit(protocol.Sample(step=state.global_step, prompt=prompt, text=text))

    def _apply_requests(self, state, control, stop: bool | None = None, checkpoint: bool | None = None) -> None:
        """Act on stop/checkpoint: the live flags by default, the agreed ones across ranks."""
        if self.job.take_checkpoint_request() if checkpoint is None else checkpoint:
            control.should_save = True
        if (self.job.stop_requested if stop is None else stop) and not control.should_training_stop:
            # Stop = finish this step, then save: a checkpoint too, so the run can resume.
            control.should_training_stop = True
            control.should_save = True
            self.emit(protocol.Phase("stopping", done=state.global_step, total=state.max_steps,
                                     detail=STOPPING_DETAIL))

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "eval_loss" in logs:  # an evaluation's log, before its on_evaluate (whose metrics some trainers trim)
            self._eval_logged = self._stage_numbers(_held_out(logs))
        if "loss" not in logs:
            return
        loss = float(logs["loss"])
        if not math.isfinite(loss) and self.fail_on_nan:
            raise FloatingPointError(f"the loss became {loss} at step {state.global_step}")
        self.last_loss = loss
        preference = self._stage_numbers(logs)
        self.last_preference = preference or self.last_preference
        now = time.monotonic()
        self.throughput.record(state.global_step, now, self._tokens(state))
        tokens_per_s = self.throughput.tokens_per_s()
        eta = self.throughput.eta_s(state.max_steps)
        self.emit(protocol.Step(
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=round(float(state.epoch or 0.0), 4),
            loss=loss,
            lr=float(logs.get("learning_rate", 0.0)),
            grad_norm=_maybe_float(logs.get("grad_norm")),
            tokens_per_s=None if tokens_per_s is None else round(tokens_per_s, 1),
            elapsed_s=round(now - self.started, 3),
            eta_s=None if eta is None else round(eta, 1),
            preference=preference,
        ))
        if not distributed.active():  # across ranks, commands act only where all agree (step end)
            self._apply_requests(state, control)  # a command that arrived during this step acts now

    def _stage_numbers(self, logs: dict) -> dict[str, float] | None:
        """The stage's own numbers among ``logs`` (None for sft, or a log without them)."""
        if not self.stage_metrics:
            return None
        numbers = {key: float(value) for key, value in logs.items()
                   if key.startswith(self.stage_metrics) and _maybe_float(value) is not None}
        return numbers or None

    def on_prediction_step(self, args, state, control, **kwargs):
        """An eval batch is done: say how many of how many, on the first, about every
        1/EVAL_PROGRESS_EVENTS of the pass, and the last."""
        self._eval_batches += 1
        done = self._eval_batches
        try:
            total = len(kwargs["eval_dataloader"])
        except (KeyError, TypeError):  # an iterable without a length: count alone
            total = 0
        every = max(1, math.ceil(total / EVAL_PROGRESS_EVENTS))
        if done == 1 or done % every == 0 or done == total:
            self.emit(protocol.Phase("evaluating", done=done, total=total or None))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self._eval_batches = 0
        self._eval_logged, logged = None, self._eval_logged
        self.throughput.interrupt()
        if self.batches is not None:  # the eval batches, built since the step ended, trained nothing
            self.batches.forget_after(self._train_batches)
        loss = (metrics or {}).get("eval_loss")
        if loss is not None:
            self.last_eval = (state.global_step, float(loss))
            held_out = self._stage_numbers(_held_out(metrics or {})) or logged
            self.last_eval_preference = held_out
            self.emit(protocol.Eval(step=state.global_step, eval_loss=float(loss),
                                    perplexity=None if self.stage_metrics else _perplexity(loss),
                                    preference=held_out))
        if self.training:  # a periodic eval: the run goes on training (or stopping, if told to)
            stopping = control.should_training_stop
            self.emit(protocol.Phase("stopping" if stopping else "training", done=state.global_step,
                                     total=state.max_steps, detail=STOPPING_DETAIL if stopping else None))

    def on_save(self, args, state, control, **kwargs):
        self.throughput.interrupt()
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.emit(protocol.Checkpoint(step=state.global_step, path=str(path)))


def _held_out(metrics: dict) -> dict:
    """An evaluation's numbers under their training names (eval_rewards/margins -> rewards/margins)."""
    return {key.removeprefix("eval_"): value for key, value in metrics.items()}


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
