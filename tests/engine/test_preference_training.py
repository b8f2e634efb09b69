"""DPO on the tiny Llama (TRL's trainer behind the worker protocol): the held-out pairs' reward margin
and accuracy rise, measured again here with plain peft and torch, not with TRL's own numbers; each
step says its rewards; the adapter reloads with plain peft and its card records the stage and beta."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import Recorder
from peft import PeftModel
from preference_support import held_out_rows, preference_job, reply_logp
from transformers import AutoModelForCausalLM, AutoTokenizer

from studio.core import protocol
from studio.engine.control import JobControl
from studio.engine.preference_training import train_preference

BETA = 0.1
REWARDS = {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"}


def dpo_job(model_dir, steps: int = 12, **sections):
    return preference_job(model_dir, "dpo", steps, preference={"beta": BETA}, **sections)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("dpo-run")
    job = dpo_job(tiny_model_dir)
    rec = Recorder()
    run = train_preference(job, run_dir, rec, JobControl())
    return job, run_dir, rec, run


def margins(policy, reference, tokenizer, pairs) -> list[float]:
    """DPO's implicit reward margin of each pair: beta x (chosen's log-ratio - rejected's)."""
    out = []
    for pair in pairs:
        ratio = [reply_logp(policy, tokenizer, pair, reply) - reply_logp(reference, tokenizer, pair, reply)
                 for reply in (pair.chosen, pair.rejected)]
        out.append(BETA * (ratio[0] - ratio[1]))
    return out


def test_held_out_pairs_are_preferred_after_training(trained, tiny_model_dir):
    """Before training the adapter is the reference (margin 0 on every pair, accuracy 0); after, the
    held-out pairs' margin is positive and most of them are ranked right, as plain peft measures it."""
    job, run_dir, _rec, _run = trained
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    pairs = held_out_rows(job)
    assert len(pairs) == 16
    before = margins(base, base, tokenizer, pairs)
    assert before == [0.0] * len(pairs)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tuned = PeftModel.from_pretrained(base, str(run_dir / "adapter")).eval()
    after = margins(tuned, reference, tokenizer, pairs)
    accuracy = sum(m > 0 for m in after) / len(after)
    assert sum(after) / len(after) > 0.5 and accuracy >= 0.75, after  # measured: all 16 right, margin ~5


def test_steps_and_the_held_out_evaluation_carry_the_rewards(trained):
    _job, _run_dir, rec, run = trained
    steps = rec.of(protocol.Step)
    assert [s.step for s in steps] == list(range(1, 13))
    assert all(REWARDS <= set(s.preference or {}) for s in steps)
    assert steps[0].preference["rewards/margins"] == 0.0  # the reference is the adapter as it started
    late = [s.preference["rewards/margins"] for s in steps[-4:]]
    assert min(late) > 0.5 and sum(s.preference["rewards/accuracies"] for s in steps[-4:]) / 4 > 0.9
    assert steps[-1].loss < 0.5 * steps[0].loss  # 0.693 (log 2) at the start
    assert all(s.tokens_per_s for s in steps[1:])
    (held_out,) = rec.of(protocol.Eval)
    assert held_out.step == 12 and held_out.preference["rewards/margins"] > 0.5
    metrics = run.outputs.metrics
    assert metrics.preference["eval_rewards/accuracies"] == held_out.preference["rewards/accuracies"] >= 0.75
    assert metrics.steps == 12 and metrics.tokens_trained > 0
    assert [c.step for c in rec.of(protocol.Checkpoint)] == [6, 12]
    phases = [p.name for p in rec.of(protocol.Phase)]
    assert phases.index("loading_model") < phases.index("training") < phases.index("saving")


def test_the_adapter_is_plain_peft_and_its_card_records_the_stage(trained):
    _job, run_dir, _rec, run = trained
    adapter = run_dir / "adapter"
    assert sorted(p.name for p in adapter.iterdir()) == ["README.md", "adapter_config.json",
                                                          "adapter_model.safetensors", "card.json"]  # no "ref" copy
    card = json.loads((adapter / "card.json").read_text(encoding="utf-8"))
    assert card["training"]["stage"] == "dpo"
    assert {"beta": BETA, "loss_type": "sigmoid", "label_smoothing": 0.0}.items() <= card["preference"].items()
    assert card["dataset"]["format"] == "preference" and card["dataset"]["rows_train"] == 48
    assert card["metrics"]["preference"]["eval_rewards/margins"] > 0
    assert "- stage: dpo (beta 0.1, loss_type sigmoid" in (adapter / "README.md").read_text(encoding="utf-8")
    assert run.outputs.adapter_path == str(adapter)


def test_a_stop_saves_the_adapter_trained_so_far(tiny_model_dir, tmp_path):
    """Stop acts between steps as in SFT (the same callback): the run saves what it has, marked stopped."""
    control, rec = JobControl(), Recorder()

    def stop_after_two(event):
        rec(event)
        if isinstance(event, protocol.Step) and event.step == 2:
            control.request("stop")

    run = train_preference(dpo_job(tiny_model_dir, steps=40, dataset={"max_rows": 24}), tmp_path, stop_after_two,
                           control)
    assert run.outputs.stopped and run.outputs.metrics.steps == 2
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()

