"""The final evaluation sized for the job (engine.eval_plan), said in the run's events, and its
loss the token-weighted mean, whatever the batching (GuardedTrainer)."""

from __future__ import annotations

import datasets
import pytest
import torch
from helpers import Recorder, tiny_job

from studio.core import protocol
from studio.core.jobs import TrainJob
from studio.engine import eval_plan


def tokenized(lengths: list[int]) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"input_ids": [[7] * n for n in lengths], "labels": [[7] * n for n in lengths]})


def job(steps: int, batch: int = 4, accumulation: int = 1, eval_max_rows: int = 200) -> TrainJob:
    result = TrainJob()
    result.training.max_steps, result.training.batch_size, result.training.grad_accum = steps, batch, accumulation
    result.dataset.eval_max_rows = eval_max_rows
    return result


def test_a_short_run_evaluates_as_many_rows_as_it_trains_on_longest_first():
    held_out = tokenized([10 + (i * 37) % 90 for i in range(100)])
    made = eval_plan.plan(held_out, 100, job(steps=5), steps=5)
    assert made.rows == 20 == len(made.dataset)
    assert made.describe() == "20 of 100 held-out rows (as many as the run trains on: 5 steps of 4 rows)"
    lengths = [len(ids) for ids in made.dataset["input_ids"]]
    assert lengths == sorted(lengths, reverse=True)
    assert eval_plan.plan(held_out, 100, job(steps=5, accumulation=2), steps=5, processes=2).rows == 80
    assert "5 steps of 4 x 2 rows on each of 2 processes" in eval_plan.plan(
        held_out, 100, job(steps=5, accumulation=2), steps=5, processes=2).bound


def test_long_runs_and_explicit_choices_keep_their_rows():
    held_out = tokenized([5] * 150)
    assert eval_plan.plan(held_out, 150, job(steps=500), steps=500).describe() == "150 of 150 held-out rows (all of them)"
    capped = eval_plan.plan(tokenized([5] * 200), 1000, job(steps=500), steps=500)  # core kept 200 of 1,000
    assert capped.describe() == "200 of 1000 held-out rows (at most dataset.eval_max_rows = 200)"
    every = eval_plan.plan(held_out, 150, job(steps=1, eval_max_rows=0), steps=1)
    assert every.rows == 150  # eval_max_rows = 0: every held-out row, however short the run
    floor = eval_plan.plan(held_out, 150, job(steps=1, batch=1), steps=1)
    assert floor.rows == eval_plan.MIN_ROWS and "short" in floor.bound
    assert eval_plan.plan(None, 0, job(steps=1), steps=1).dataset is None


def test_the_run_says_what_it_evaluates_and_its_card_counts_it(tiny_model_dir, tmp_path):
    from studio.engine.control import JobControl
    from studio.engine.training import train

    rec = Recorder()
    # 24 of 48 rows held out, one step of 4 rows: the job-sized floor of 16 rows is evaluated.
    result = train(tiny_job(tiny_model_dir, steps=1, dataset={"eval_fraction": 0.5}), tmp_path / "run", rec,
                   JobControl())
    details = [e.detail for e in rec.of(protocol.Phase) if e.name == "evaluating" and e.detail]  # not the counts
    assert details == [f"on 16 of 24 held-out rows (a job this short evaluates {eval_plan.MIN_ROWS} rows)"]
    prepared = next(e.detail for e in rec.of(protocol.Phase) if e.name == "preparing_data" and e.total)
    assert prepared.startswith("24 train / 24 held-out rows (16 of them evaluated)")
    card = (tmp_path / "run" / "adapter" / "card.json").read_text()
    assert '"rows_eval": 16' in card and '"rows_held_out": 24' in card
    assert result.outputs.metrics.eval_loss is not None


@pytest.mark.parametrize("batch_size", [1, 3])
def test_eval_loss_is_the_token_weighted_mean_whatever_the_batches(tiny_model_dir, tmp_path, batch_size):
    from studio.engine.control import JobControl
    from studio.engine.training import Parallel, setup

    session = setup(tiny_job(tiny_model_dir, steps=1, training={"batch_size": batch_size}), tmp_path / "run",
                    Recorder(), JobControl(), Parallel())
    rows = session.evaluation.dataset
    model = session.model.eval()
    total = tokens = 0.0
    with torch.no_grad():  # one row at a time: no padding, no batching to weigh
        for row in rows:
            ids, labels = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])
            counted = int((labels[:, 1:] != -100).sum())
            total += float(model(input_ids=ids, labels=labels).loss) * counted
            tokens += counted
    # The Trainer's own figure, a mean of batch means, moves with the batch size; this one does not.
    assert session.trainer.evaluate()["eval_loss"] == pytest.approx(total / tokens, rel=1e-5)


def test_on_the_cpu_rows_train_one_at_a_time_and_the_sorted_eval_rows_are_batched(tiny_model_dir, tmp_path):
    from studio.engine.control import JobControl
    from studio.engine.training import Parallel, setup

    session = setup(tiny_job(tiny_model_dir, steps=1, dataset={"eval_fraction": 0.5}), tmp_path / "run",
                    Recorder(), JobControl(), Parallel())
    args = session.trainer.args
    assert session.step.path.rows_apart and session.trainer.output_loss is not None
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (1, 4)  # the job's 4 x 1
    first = next(iter(session.trainer.get_train_dataloader()))
    assert first["input_ids"].shape[0] == 1 and bool(first["attention_mask"].all())  # a row alone: no padding
    batches = list(session.trainer.get_eval_dataloader())
    assert [len(b["input_ids"]) for b in batches] == [4, 4, 4, 4]
    widths = [b["input_ids"].shape[1] for b in batches]
    assert widths == sorted(widths, reverse=True)
