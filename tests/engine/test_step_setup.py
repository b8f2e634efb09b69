"""One step setup for the worker and ``lora-studio bench`` (engine.step_setup): the benchmark's
"ours" is the worker's Trainer, optimizer, collator and fast path, not a copy of them."""

from __future__ import annotations

import pytest

from studio.engine import bench, step_setup
from studio.engine.guarded_trainer import GuardedTrainer
from studio.engine.hardware import Hardware
from studio.engine.random_model import random_llama

SHAPE = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128, "tie_word_embeddings": False}
CFG = {"shape": "tiny", "data": "variable", "batch": 4, "seq": 64, "ckpt": False}


@pytest.mark.parametrize("mode", ["ours", "baseline"])
def test_bench_trains_through_the_workers_setup(mode, monkeypatch):
    prepared = []
    real = step_setup.prepare
    monkeypatch.setattr(step_setup, "prepare", lambda *a, **k: prepared.append(real(*a, **k)) or prepared[-1])
    rows = bench.examples(CFG, SHAPE["vocab_size"], 3)[:4] * 3  # the same 4 rows, 3 steps over them
    job = bench.bench_job(CFG, 12)
    job.training.learning_rate = 3e-2
    model, trainer_class, kwargs, described, path = bench.setup(mode, random_llama(SHAPE, device="cpu"), job, CFG,
                                                                rows, hw=Hardware("cpu", "fp32"))
    timer = bench.Timer()
    trainer = trainer_class(model=model, train_dataset=rows * 4, callbacks=[timer.callback], **kwargs)
    trainer.train()
    # It learns the rows it sees again: a random model's step losses wander with the dropout's draws,
    # so the best of the last four steps, not the last one alone.
    assert min(timer.losses[-4:]) < timer.losses[0] - 0.05, timer.losses
    if mode == "ours":
        assert trainer_class is GuardedTrainer and len(prepared) == 1
        assert kwargs["args"] is prepared[0].args and kwargs["data_collator"] is prepared[0].collator
        assert described == prepared[0].path.describe() and kwargs["args"].lr_scheduler_type == "constant"
    else:
        assert not prepared and path is None and "plain transformers + peft" in described
