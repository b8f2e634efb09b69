"""The Trainer the engine runs: it checks every loss before it reaches the weights.

A NaN or infinite loss either stops the run at that step (``training.on_nan =
"stop"``: the adapter and the last checkpoint stay as they were) or drops that
batch (``"skip"``: its gradient is zero; a warning names the step). Checking each
micro-batch costs one host sync per forward pass, and it has to come before the
backward: after it, a skipped batch's NaN would already be summed into the gradients
of the batches it accumulates with (and under DDP into every rank's).

On the GPU fast path the check waits for nothing (``lagged``, engine.step_log): the loss's
finiteness goes to the fused optimizer as ``found_inf``, which leaves the weights and their
moments untouched for that update on the GPU itself, and the step's loss, gradient norm and
verdict reach the host a step or so later, where the stop, the warning and the step event
follow. The run then stops a step or two after the bad one, with nothing of it in the
weights; a skipped batch's update is dropped whole.

Its training losses come from CUDA graphs where the fast path chose them
(engine.step_graphs), and on the CPU from the output layer applied to the labelled positions
alone (engine.output_loss). Its eval loss is the token-weighted mean over the evaluated rows
(the Trainer's is a mean of batch means, which changes with the batching), as ``lora-studio
eval`` measures it. It also hosts the fault drills (core.faults): out of memory, NaN, a hang and a hard
crash strike inside the step they name, so the real handling paths run, and spares
each step the Trainer's walks over every module (engine.step_overhead).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

import torch
from transformers import Trainer

from studio.core import protocol
from studio.core.faults import Fault
from studio.engine import distributed, layer_setup
from studio.engine.data_prep import IGNORE
from studio.engine.output_loss import OutputLoss
from studio.engine.step_graphs import StepGraphs
from studio.engine.step_log import LaggedSteps, StepNumbers
from studio.engine.step_overhead import StepWalks

log = logging.getLogger(__name__)


class GuardedTrainer(Trainer):
    def __init__(self, *args, on_nan: str = "stop", fault: Fault | None = None,
                 emit: Callable[[protocol.Event], None] | None = None, graphs: StepGraphs | None = None,
                 lagged: LaggedSteps | None = None, output_loss: OutputLoss | None = None,
                 eval_collator: Callable | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_loss = output_loss  # the loss from the labelled positions alone (CPU; engine.output_loss)
        self.eval_collator = eval_collator  # the eval batches' own, where not the training collator
        self._eval_sums: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # an evaluation's (loss x tokens, tokens)
        self.on_nan = on_nan
        self.fault = fault
        self.graphs = graphs  # training steps replayed as CUDA graphs where they can be
        self.emit = emit or (lambda _event: None)
        self.skipped_steps: list[int] = []
        self._walks = StepWalks()
        self.lagged = lagged  # the step's numbers read without waiting for the GPU (engine.step_log)
        self._step: tuple[torch.Tensor, torch.Tensor] | None = None  # (loss, finite) of the step in flight
        self._log_wanted: dict[int, bool] = {}
        self._window: list[float] = []  # losses since the last logged step (training.logging_steps > 1)

    def train(self, *args, **kwargs):
        try:
            output = super().train(*args, **kwargs)
            if self.lagged is not None:
                self._report(self.lagged.ready(wait=True))
            return output
        finally:
            self._walks.detach()  # the model leaves with its own methods

    def training_step(self, model, inputs, num_items_in_batch=None):
        if not (self.is_fsdp_enabled or self.is_deepspeed_enabled):
            self._walks.attach(model)  # the model the loop drives (a DDP wrapper under torchrun)
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.lagged is None or self._step is None:
            return loss
        # The Trainer sums what this returns: a skipped batch adds nothing, as with the synced check.
        return torch.where(self._step[1], loss, torch.zeros_like(loss))

    def _maybe_log_save_evaluate(self, tr_loss, grad_norm, *args, **kwargs):
        """Lagged: queue this step's numbers instead of the Trainer's log, which would wait for
        the GPU; report those that have landed, and all of them before an evaluation, a
        checkpoint or the end, so events keep their order."""
        if self.lagged is not None and self._step is not None:
            learning_rate = kwargs.get("learning_rate", args[5] if len(args) > 5 else None)
            loss, finite = self._step
            self._step = None
            step = self.state.global_step
            self._log_wanted[step] = self.control.should_log
            self.lagged.push(step=step, epoch=float(self.state.epoch or 0.0), loss=loss, finite=finite,
                             learning_rate=self._get_learning_rate() if learning_rate is None else learning_rate,
                             grad_norm=grad_norm)
            self.control.should_log = False
            control = self.control
            wait = (control.should_evaluate or control.should_save or control.should_training_stop
                    or step >= self.state.max_steps)
            self._report(self.lagged.ready(wait=wait))
        return super()._maybe_log_save_evaluate(tr_loss, grad_norm, *args, **kwargs)

    def _report(self, landed: list[StepNumbers]) -> None:
        for numbers in landed:
            if not numbers.finite:
                self._not_finite(numbers.step, numbers.loss)
            self._window.append(numbers.loss if numbers.finite else 0.0)
            if not self._log_wanted.pop(numbers.step, True):
                continue
            logs = {"loss": sum(self._window) / len(self._window), "learning_rate": numbers.learning_rate}
            if numbers.grad_norm is not None:
                logs["grad_norm"] = numbers.grad_norm
            self._window = []
            with self._as_of(numbers):
                self.log(logs)

    @contextlib.contextmanager
    def _as_of(self, numbers: StepNumbers):
        """The Trainer's state as at a reported step, for its log and the callbacks that read it."""
        step, epoch = self.state.global_step, self.state.epoch
        self.state.global_step, self.state.epoch = numbers.step, numbers.epoch
        try:
            yield
        finally:
            self.state.global_step, self.state.epoch = step, epoch

    def _not_finite(self, step: int, value: float) -> None:
        """Stop (``training.on_nan = stop``; under FSDP always) or note the skipped batch."""
        if self.on_nan == "stop" or self.is_fsdp_enabled:  # FSDP: no safe partial backward to skip with
            raise FloatingPointError(f"the loss became {value} at step {step}; nothing from that step reached "
                                     f"the weights, and the last checkpoint is intact")
        if not self.skipped_steps or self.skipped_steps[-1] != step:
            self.skipped_steps.append(step)
            self.emit(protocol.Warning(f"step {step}: the loss was {value}; that batch was skipped "
                                       f"(training.on_nan = skip)"))

    def floating_point_ops(self, inputs) -> int:
        """The Trainer's estimate (6 x tokens x non-embedding parameters), the parameters
        counted once a run instead of by two module walks at every micro-batch."""
        main = getattr(self.model, "main_input_name", "input_ids")
        if main not in inputs or not hasattr(self.model, "num_parameters"):
            return super().floating_point_ops(inputs)
        return 6 * inputs[main].numel() * self._walks.parameter_count(self.model)

    def evaluate(self, *args, **kwargs):
        """Compiled layers evaluate eagerly: an eval-mode graph compiled for a pass over a few
        hundred rows (dataset.eval_max_rows) costs more than it saves."""
        with layer_setup.eager():
            return super().evaluate(*args, **kwargs)

    def get_eval_dataloader(self, *args, **kwargs):
        if self.eval_collator is None:
            return super().get_eval_dataloader(*args, **kwargs)
        training, self.data_collator = self.data_collator, self.eval_collator
        try:
            return super().get_eval_dataloader(*args, **kwargs)
        finally:
            self.data_collator = training

    def evaluation_loop(self, *args, **kwargs):
        """The Trainer's loop, its loss replaced by the token-weighted mean (one process; across
        several, each rank's batches are gathered by the Trainer and its mean stays)."""
        self._eval_sums = None if distributed.active() else []
        try:
            output = super().evaluation_loop(*args, **kwargs)
            prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
            if self._eval_sums:
                total, tokens = (float(sum(column)) for column in zip(*self._eval_sums, strict=True))
                if tokens > 0:
                    output.metrics[f"{prefix}_loss"] = total / tokens
            return output
        finally:
            self._eval_sums = None

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        loss, logits, labels = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        if self._eval_sums is not None and loss is not None and inputs.get("labels") is not None:
            # The batch's loss is its mean over the tokens that count (the shifted labels); both
            # stay tensors, read once at the end (no wait for the GPU per batch).
            tokens = (inputs["labels"][..., 1:] != IGNORE).sum().to(loss.device)
            weighted = torch.where(tokens > 0, loss.detach().float() * tokens, torch.zeros_like(loss, dtype=torch.float))
            self._eval_sums.append((weighted, tokens))
        return loss, logits, labels

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        step = self.state.global_step + 1
        if model.training:
            self._drill(step)
        result = None
        if self.graphs is not None and model.training and not return_outputs:
            result = self.graphs.loss(model, inputs, num_items_in_batch)
        if result is None and self.output_loss is not None and "labels" in inputs and "shift_labels" not in inputs:
            loss, outputs = self.output_loss(model, inputs, num_items_in_batch if self.model_accepts_loss_kwargs
                                             else None)  # the Trainer's own division, as the model would get it
            result = (loss, outputs) if return_outputs else loss
        if result is None:
            result = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                          num_items_in_batch=num_items_in_batch)
        if not model.training:
            return result
        loss = result[0] if return_outputs else result
        if self.fault is not None and self.fault.strikes("nan", step):
            loss = loss * float("nan")
        if self.lagged is not None:
            finite = torch.isfinite(loss.detach())
            self._step = (loss.detach(), finite)
            _optimizer(self.optimizer).found_inf = (~finite).float()  # the update is skipped on the GPU
            return (loss, *result[1:]) if return_outputs else loss
        if bool(torch.isfinite(loss.detach())):
            return (loss, *result[1:]) if return_outputs else loss
        self._not_finite(step, loss.item())
        zero = self._no_gradient(model, loss)
        return (zero, *result[1:]) if return_outputs else zero

    def _no_gradient(self, model, loss):
        """A zero loss whose backward leaves the weights alone. Alone, a fresh leaf: no
        gradient at all, so the optimizer skips every weight (momentum too). Under DDP
        every rank must produce a gradient for every trainable weight, and fp16's grad
        scaler needs gradients to check, so zeros are tied to each weight there instead.
        Never ``loss * 0``: NaN x 0 is NaN in the backward."""
        from studio.engine import distributed

        if not distributed.active() and not self.args.fp16:
            return torch.zeros((), device=loss.device, dtype=loss.dtype, requires_grad=True)
        return sum(p.reshape(-1)[:1].sum() * 0.0 for p in model.parameters() if p.requires_grad)

    def _drill(self, step: int) -> None:
        fault = self.fault
        if fault is None or fault.step != step:
            return
        if fault.kind == "oom":
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (fault drill at step {step}). Tried to allocate "
                                              f"2.00 GiB")
        if fault.kind == "hang":
            log.warning("fault drill: hanging at step %d", step)
            while True:
                time.sleep(3600)
        if fault.kind == "crash":
            log.warning("fault drill: crashing at step %d", step)
            os.kill(os.getpid(), signal.SIGSEGV)


def _optimizer(optimizer):
    """The torch optimizer under accelerate's wrapper, which reads ``found_inf`` at its step."""
    return getattr(optimizer, "optimizer", optimizer)


def lagged_steps_possible(optimizer_name: str, device: str, precision: str, grad_accum: int, distributed: bool,
                          own_optimizer: bool) -> bool:
    """Where a step's loss check can wait for nothing: the fused AdamW (the one optimizer that
    skips an update by ``found_inf`` on the GPU), one micro-batch an update (a skipped batch
    drops exactly its update), one process (a rank's NaN would not stop the others' update),
    no fp16 loss scaler (it owns ``found_inf``), and no optimizer of our own (LoRA+'s)."""
    return (device == "cuda" and optimizer_name == "adamw_torch_fused" and precision != "fp16" and grad_accum == 1
            and not distributed and not own_optimizer)


def fail_saving_if_drilled(fault: Fault | None, step: int, folder) -> None:
    """disk_full@N: the adapter save (after step N) fails as a full disk would, mid-write."""
    if fault is not None and fault.kind == "disk_full" and step >= fault.step:
        import errno

        raise OSError(errno.ENOSPC, "No space left on device (fault drill)", str(folder))
