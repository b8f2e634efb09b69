"""One setup for the worker and ``lora-studio bench``: the benchmark's "ours" is the Trainer the
worker's ``engine.training.build`` makes (its step, optimizer, collators and callbacks), not a copy
of them (issue 19)."""

from __future__ import annotations

import dataclasses

import pytest
import transformers
from helpers import tiny_job

from studio.engine import bench, data_prep, step_setup, training
from studio.engine.callbacks import ProtocolCallback
from studio.engine.guarded_trainer import GuardedTrainer
from studio.engine.hardware import Hardware
from studio.engine.random_model import random_llama

SHAPE = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128, "tie_word_embeddings": False}
CFG = {"shape": "tiny", "data": "variable", "batch": 4, "seq": 64, "ckpt": False}
CPU = Hardware("cpu", "fp32")


@pytest.mark.parametrize("mode", ["ours", "baseline"])
def test_bench_trains_through_the_workers_setup(mode, monkeypatch):
    prepared = []
    real = step_setup.prepare
    monkeypatch.setattr(step_setup, "prepare", lambda *a, **k: prepared.append(real(*a, **k)) or prepared[-1])
    rows = bench.examples(CFG, SHAPE["vocab_size"], 3)[:4] * 3  # the same 4 rows, 3 steps over them
    job = bench.bench_job(CFG, 12)
    job = dataclasses.replace(job, training=dataclasses.replace(job.training, learning_rate=3e-2))
    made = bench.setup(mode, random_llama(SHAPE, device="cpu"), job, CFG, rows, hw=CPU)
    timer = bench.Timer()
    made.trainer.add_callback(timer.callback)
    made.trainer.train()
    # It learns the rows it sees again: a random model's step losses wander with the dropout's draws,
    # so the best of the last four steps, not the last one alone.
    assert min(timer.losses[-4:]) < timer.losses[0] - 0.05, timer.losses
    assert len(timer.ends) == 12
    if mode == "ours":
        trainer = made.trainer
        assert type(trainer) is GuardedTrainer and len(prepared) == 1
        assert trainer.args is prepared[0].args and trainer.args.lr_scheduler_type == "constant"
        assert isinstance(trainer.data_collator, data_prep.CountingCollator)  # the worker's token count
        assert trainer.data_collator.inner is prepared[0].collator
        assert made.described == prepared[0].path.describe() and made.path is prepared[0].path
    else:
        assert not prepared and made.path is None and "plain transformers + peft" in made.described


def _parts(trainer) -> dict:
    """What a Trainer is made of, by kind: its class, callbacks, collators and step helpers."""
    collator = trainer.data_collator
    return {
        "class": type(trainer),
        "callbacks": [type(c).__name__ for c in trainer.callback_handler.callbacks],
        "collator": (type(collator), type(getattr(collator, "inner", None))),
        "eval_collator": type(trainer.eval_collator),
        "graphs": type(trainer.graphs), "lagged": type(trainer.lagged), "output_loss": type(trainer.output_loss),
        "optimizer": type(trainer.optimizer), "on_nan": trainer.on_nan,
    }


@pytest.mark.parametrize("lora", [{}, {"tuner": "adalora", "r": 4}], ids=["lora", "adalora"])
def test_the_bench_trainer_is_the_one_the_workers_setup_builds(tiny_model_dir, tmp_path, lora):
    """The worker's session, from a job on disk, and the bench's, from a random model and random
    rows: the same kinds of parts, the tuner's step callbacks (AdaLoRA's) included."""
    from studio.engine.control import JobControl

    events: list = []
    job = tiny_job(tiny_model_dir, steps=4, lora=lora, training={"packing": True})
    worker = training.setup(job, tmp_path / "run", events.append, JobControl(), training.Parallel())
    bench_job = bench.bench_job(CFG, 4)
    bench_job = dataclasses.replace(bench_job, lora=dataclasses.replace(job.lora, dropout=0.05),
                                    training=dataclasses.replace(bench_job.training, packing=True))
    rows = bench.examples(CFG, SHAPE["vocab_size"], 4)
    made = bench.setup("ours", random_llama(SHAPE, device="cpu"), bench_job, CFG, rows, hw=CPU)
    assert _parts(made.trainer) == _parts(worker.trainer)
    callbacks = [type(c) for c in made.trainer.callback_handler.callbacks]
    assert ProtocolCallback in callbacks and transformers.PrinterCallback not in callbacks
    assert made.trainer.eval_collator is not None  # packed rows on the CPU: the eval batches' own collator
    if lora:
        assert any(type(c).__name__ == "_AfterOptimizerStep" for c in made.trainer.callback_handler.callbacks)


def test_the_modes_change_a_copy_of_the_job():
    job = bench.bench_job(CFG, 4)
    rows = bench.examples(CFG, SHAPE["vocab_size"], 4)
    made = bench.setup("ours-nodrop-eager-allckpt-synced", random_llama(SHAPE, device="cpu"), job, CFG, rows, hw=CPU)
    assert (job.lora.dropout, job.training.compile, job.training.memory_limit_gib) == (0.05, "auto", 0.0)
    assert (made.job.lora.dropout, made.job.training.compile, made.job.training.memory_limit_gib) == (0.0, "off", 0.01)
    assert made.trainer.lagged is None and not made.path.compile
