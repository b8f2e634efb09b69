"""Steps whose loss check and log wait for nothing (engine.step_log, GuardedTrainer's ``lagged``).

On the GPU their numbers land a step or so late; ``hold`` makes the CPU lag the same way, so
these tests walk the GPU's paths: the same losses, weights and events as the synced check, in
order and under the right step numbers, and a NaN batch skipped or stopped on as before."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

from studio.core import protocol
from studio.core.faults import Fault
from studio.core.jobs import TrainJob
from studio.engine import bench, data_prep, step_setup
from studio.engine.fast_path import FastPath
from studio.engine.guarded_trainer import GuardedTrainer, lagged_steps_possible
from studio.engine.hardware import Hardware
from studio.engine.random_model import random_llama
from studio.engine.step_log import LaggedSteps

SHAPE = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 96, "tie_word_embeddings": False}
STEPS = 6


def test_numbers_wait_for_newer_steps_while_held_and_all_come_on_wait():
    lagged = LaggedSteps(hold=1)
    lagged.push(step=1, epoch=0.5, learning_rate=1e-3, loss=torch.tensor(2.5), grad_norm=torch.tensor(0.75),
                finite=torch.tensor(True))
    assert lagged.ready() == []
    lagged.push(step=2, epoch=1.0, learning_rate=1e-3, loss=torch.tensor(float("nan")), grad_norm=None,
                finite=torch.tensor(False))
    first = lagged.ready()
    assert [(n.step, n.loss, n.grad_norm, n.finite) for n in first] == [(1, 2.5, 0.75, True)]
    (second,) = lagged.ready(wait=True)
    assert second.step == 2 and second.grad_norm is None and not second.finite and second.loss != second.loss
    assert len(lagged) == 0


def test_only_the_fused_single_process_gpu_step_waits_for_nothing():
    assert lagged_steps_possible("adamw_torch_fused", "cuda", "bf16", 1, False, False)
    assert not lagged_steps_possible("adamw_torch_fused", "cpu", "fp32", 1, False, False)
    assert not lagged_steps_possible("adamw_torch", "cuda", "bf16", 1, False, False)  # no found_inf
    assert not lagged_steps_possible("adamw_torch_fused", "cuda", "fp16", 1, False, False)  # the scaler's
    assert not lagged_steps_possible("adamw_torch_fused", "cuda", "bf16", 2, False, False)
    assert not lagged_steps_possible("adamw_torch_fused", "cuda", "bf16", 1, True, False)
    assert not lagged_steps_possible("adamw_torch_fused", "cuda", "bf16", 1, False, True)  # LoRA+'s optimizer


class _Logged(TrainerCallback):
    def __init__(self):
        self.steps: list[tuple[int, float, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.steps.append((state.global_step, round(logs["loss"], 6), round(state.epoch, 6)))


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def _train(tmp_path, lagged: LaggedSteps | None, on_nan: str = "stop", fault: Fault | None = None,
           logging_steps: int = 1, device: str = "cpu"):
    torch.manual_seed(0)
    model = random_llama(SHAPE, device=device)
    from studio.engine import adapter_setup

    job = TrainJob()
    job.training.batch_size, job.training.learning_rate, job.training.logging_steps = 2, 2e-2, logging_steps
    job.training.warmup_ratio, job.training.max_length = 0.0, 32
    model = adapter_setup.apply_adapter(model, job.lora, False, quantized=False)
    path = FastPath(packing=False, liger=False, fused_adamw=True, tf32=False)  # the fused AdamW, as on the GPU
    hw = Hardware(device, "bf16" if device == "cuda" else "fp32")
    args = step_setup.training_arguments(job, tmp_path, hw, STEPS, False, path)
    rows = bench.examples({"data": "fixed", "batch": 2, "seq": 24}, SHAPE["vocab_size"], 2) * 3
    logged, warnings = _Logged(), []
    trainer = GuardedTrainer(model=model, args=args, train_dataset=rows, on_nan=on_nan, fault=fault,
                             data_collator=data_prep.collator(bench.pad_tokenizer(), packing=False),
                             emit=lambda event: warnings.append(event) if isinstance(event, protocol.Warning) else None,
                             lagged=lagged, callbacks=[logged])
    trainer.train()
    weights = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    return trainer, logged.steps, weights, warnings


@pytest.mark.parametrize("device", DEVICES)
def test_lagged_steps_train_and_log_as_the_synced_check_does(tmp_path, device):
    _, synced_logs, synced_weights, _ = _train(tmp_path / "a", None, device=device)
    lagged = LaggedSteps(hold=2 if device == "cpu" else 0)  # on the GPU the events make the lag
    _, lagged_logs, lagged_weights, _ = _train(tmp_path / "b", lagged, device=device)
    assert [step for step, _, _ in lagged_logs] == list(range(1, STEPS + 1))
    assert [(s, e) for s, _, e in lagged_logs] == [(s, e) for s, _, e in synced_logs]  # steps and epochs
    for (_, synced, _), (_, late, _) in zip(synced_logs, lagged_logs, strict=True):
        assert late == pytest.approx(synced, rel=1e-3)  # none lost at the end, each under its step
    if device == "cpu":  # in bf16 six steps of a random model are too few to show it (the H200's run)
        assert synced_logs[-1][1] < synced_logs[0][1]  # it learns
    assert all(torch.allclose(synced_weights[k], lagged_weights[k], atol=1e-5) for k in synced_weights)
    assert len(lagged) == 0


def test_lagged_logging_every_few_steps_logs_the_windows_mean(tmp_path):
    _, every, _, _ = _train(tmp_path / "a", LaggedSteps(hold=1))
    _, windows, _, _ = _train(tmp_path / "b", LaggedSteps(hold=1), logging_steps=3)
    assert [step for step, _, _ in windows] == [3, 6]
    assert windows[0][1] == pytest.approx(sum(loss for _, loss, _ in every[:3]) / 3, abs=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_a_nan_batch_is_skipped_on_the_optimizer_as_the_synced_check_skips_it(tmp_path, device):
    synced, _, synced_weights, synced_warnings = _train(tmp_path / "a", None, "skip", Fault("nan", 3), device=device)
    lagged, logs, lagged_weights, lagged_warnings = _train(tmp_path / "b", LaggedSteps(hold=2), "skip",
                                                           Fault("nan", 3), device=device)
    assert synced.skipped_steps == lagged.skipped_steps == [3]
    assert [w.message for w in lagged_warnings] == [w.message for w in synced_warnings]
    assert "step 3: the loss was nan" in lagged_warnings[0].message
    assert all(torch.isfinite(w).all() for w in lagged_weights.values())
    for name, weight in synced_weights.items():  # the skipped update left weights and moments alone
        assert torch.allclose(weight, lagged_weights[name], atol=1e-5), name
    assert [step for step, _, _ in logs] == list(range(1, STEPS + 1)) and logs[2][1] == 0.0


@pytest.mark.parametrize("device", DEVICES)
def test_a_nan_batch_stops_the_run_naming_its_step(tmp_path, device):
    with pytest.raises(FloatingPointError, match="the loss became nan at step 3; nothing from that step"):
        _train(tmp_path, LaggedSteps(hold=2), "stop", Fault("nan", 3), device=device)
