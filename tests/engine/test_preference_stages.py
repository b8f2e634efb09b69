"""ORPO, SimPO and KTO on the tiny Llama, run as DPO runs (one engine path, a record per stage): each
moves its own measure the right way on the held-out rows, measured again here with plain peft and
torch; each step carries the stage's own numbers; the adapter is plain peft with the stage and its
settings on its card; a KTO run resumed from a checkpoint trains on as if never stopped (its
reference, TRL's frozen copy of the starting adapter, is made again, not saved)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch
from helpers import Recorder
from peft import PeftModel
from preference_support import held_out_rows, preference_job, reply_logp, reply_logps
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

from studio.core import protocol
from studio.core.jobs import PREFERENCE_STAGES, PreferenceSettings
from studio.engine import training
from studio.engine.control import JobControl
from studio.engine.preference_stages import STAGES
from studio.engine.preference_training import train_preference, trl_class

pytestmark = pytest.mark.integration

STEPS = 6
# Each stage's settings, away from the defaults so the card shows the ones given.
SETTINGS = {
    "orpo": {"beta": 0.2},
    "simpo": {"beta": 2.5, "simpo_gamma": 0.4, "cpo_alpha": 0.1},
    "kto": {"beta": 0.2, "desirable_weight": 1.2, "undesirable_weight": 0.9},
}
OWN_NUMBERS = {  # what each stage's steps carry beside rewards/* and logps/*
    "orpo": {"log_odds_ratio", "log_odds_chosen", "nll_loss"},
    "simpo": {"nll_loss"},
    "kto": {"kl"},
}


def stage_job(model_dir, stage: str, dataset: dict | None = None, training: dict | None = None):
    return preference_job(model_dir, stage, STEPS, dataset={"max_rows": 32, **(dataset or {})},
                          training={"learning_rate": 1e-2, "save_steps": 3, **(training or {})},
                          preference=SETTINGS[stage])


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def trained(request, tiny_model_dir, tmp_path_factory):
    stage = request.param
    run_dir = tmp_path_factory.mktemp(f"{stage}-run")
    job = stage_job(tiny_model_dir, stage)
    rec = Recorder()
    run = train_preference(job, run_dir, rec, JobControl())
    return stage, job, run_dir, rec, run


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return tokenizer, lambda: AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def normalised_margin(model, tokenizer, pairs) -> float:
    """ORPO's and SimPO's reward, per token (their rewards are beta x this): the mean log-probability of
    the chosen reply's tokens minus the rejected one's, averaged over the pairs."""
    return sum(float(reply_logps(model, tokenizer, pair, pair.chosen).mean())
               - float(reply_logps(model, tokenizer, pair, pair.rejected).mean()) for pair in pairs) / len(pairs)


def kto_gap(policy, reference, tokenizer, rows, beta: float) -> float:
    """KTO's reward gap: the desirable replies' mean reward minus the undesirable ones', a reward being
    beta x log(policy / reference) of the reply."""
    def reward(row) -> float:
        return beta * (reply_logp(policy, tokenizer, row, row.response) - reply_logp(reference, tokenizer, row, row.response))

    desirable = [reward(row) for row in rows if row.desirable]
    undesirable = [reward(row) for row in rows if not row.desirable]
    return sum(desirable) / len(desirable) - sum(undesirable) / len(undesirable)


def test_each_stage_moves_its_own_measure_on_the_held_out_rows(trained, models):
    """Before training (the base), then with the adapter loaded by plain peft: ORPO and SimPO widen the
    per-token margin of the chosen reply over the rejected one; KTO's reward gap, 0 while the adapter is
    its reference, opens up, with the held-out desirable replies' reward above the undesirable ones'."""
    stage, job, run_dir, _rec, run = trained
    tokenizer, base = models
    rows = held_out_rows(job)
    tuned = PeftModel.from_pretrained(base(), str(run_dir / "adapter")).eval()
    held_out = run.outputs.metrics.preference
    if stage == "kto":
        assert len(rows) == 16 and sum(row.desirable for row in rows) == 8  # 8 pairs, each unpaired
        reference = base()
        before, after = kto_gap(reference, reference, tokenizer, rows, job.preference.beta), kto_gap(
            tuned, reference, tokenizer, rows, job.preference.beta)
        assert before == 0.0 and after > 1.0, after  # measured: 3.1
        assert held_out["eval_rewards/chosen"] > 0 > held_out["eval_rewards/rejected"]
    else:
        assert len(rows) == 8
        before, after = normalised_margin(base(), tokenizer, rows), normalised_margin(tuned, tokenizer, rows)
        assert after > before + 0.3, (before, after)  # measured: orpo 0.83 -> 1.5, simpo 0.83 -> 4.4
        # TRL's own held-out margin is beta x about the same (its rows end with one more EOS token)
        assert held_out["eval_rewards/margins"] == pytest.approx(job.preference.beta * after, rel=0.25)
    print(f"{stage}: held-out measure {before:.3f} -> {after:.3f}")


def test_each_step_carries_the_stage_own_numbers(trained):
    stage, _job, _run_dir, rec, run = trained
    steps = rec.of(protocol.Step)
    assert [s.step for s in steps] == list(range(1, STEPS + 1))
    assert all(OWN_NUMBERS[stage] | {"rewards/chosen", "logps/chosen"} <= set(s.preference or {}) for s in steps)
    assert all(s.tokens_per_s for s in steps[1:]) and run.outputs.metrics.tokens_trained > 0
    (held_out,) = rec.of(protocol.Eval)
    assert held_out.step == STEPS and OWN_NUMBERS[stage] <= set(held_out.preference)
    assert {f"eval_{key}" for key in OWN_NUMBERS[stage]} <= set(run.outputs.metrics.preference)
    assert [c.step for c in rec.of(protocol.Checkpoint)] == [3, 6]


def test_the_adapter_is_plain_peft_and_its_card_records_the_stage(trained):
    stage, job, run_dir, _rec, run = trained
    adapter = run_dir / "adapter"
    assert sorted(p.name for p in adapter.iterdir()) == ["README.md", "adapter_config.json",
                                                          "adapter_model.safetensors", "card.json"]
    card = json.loads((adapter / "card.json").read_text(encoding="utf-8"))
    assert card["training"]["stage"] == stage and card["training"]["learning_rate"] == 1e-2
    assert SETTINGS[stage].items() <= card["preference"].items()
    assert card["dataset"]["format"] == "preference" and card["dataset"]["rows_train"] == (48 if stage == "kto" else 24)
    assert f"- stage: {stage} (beta {SETTINGS[stage]['beta']}" in (adapter / "README.md").read_text(encoding="utf-8")
    assert run.outputs.adapter_path == str(adapter) and not run.outputs.stopped
    checkpoint = run_dir / "checkpoints" / "checkpoint-3"
    assert (checkpoint / "adapter_model.safetensors").exists() and not (checkpoint / "ref").exists()


@pytest.mark.parametrize("trained", ["kto"], indirect=True)  # a stage with a reference; DPO's run is the same code
def test_a_kto_run_resumed_from_its_checkpoint_trains_on_as_if_never_stopped(trained, tiny_model_dir, tmp_path):
    """The checkpoint holds the trained adapter alone; resumed, TRL makes its reference again from the
    adapter as it started, so steps 4-6 repeat the uninterrupted run's losses and rewards and the adapters
    end alike (a reference taken from the checkpoint's weights would start every reward again at 0)."""
    stage, job, run_dir, rec, _run = trained
    shutil.copytree(run_dir / "checkpoints" / "checkpoint-3", tmp_path / "checkpoints" / "checkpoint-3")
    resumed_rec = Recorder()
    train_preference(stage_job(tiny_model_dir, stage, training={"resume_from": "latest"}), tmp_path, resumed_rec,
                     JobControl())
    first = {s.step: s for s in rec.of(protocol.Step)}
    resumed = resumed_rec.of(protocol.Step)
    assert [s.step for s in resumed] == [4, 5, 6]
    for step in resumed:
        assert step.loss == pytest.approx(first[step.step].loss, abs=1e-4)
        assert step.preference == pytest.approx(first[step.step].preference, abs=1e-3)  # rewards/*, logps/*, kl
    weights, again = (load_file(str(folder / "adapter" / "adapter_model.safetensors")) for folder in (run_dir, tmp_path))
    assert weights.keys() == again.keys()
    assert all(torch.allclose(weights[key], again[key], atol=1e-5) for key in weights)


def test_kto_splits_a_pairs_file_by_pair(tiny_model_dir):
    """Both replies of a pair land on one side of the held-out split: none held out has its twin in training."""
    rows = training.read_rows(stage_job(tiny_model_dir, "kto", dataset={"max_rows": 64}), Recorder())
    assert (len(rows.train), len(rows.held_out)) == (96, 32)
    prompts = [{row.messages[-1].content for row in side if row.desirable == label}
               for side in (rows.train, rows.held_out) for label in (True, False)]
    assert prompts[0] == prompts[1] and prompts[2] == prompts[3]  # each prompt's two replies together
    assert not prompts[0] & prompts[2]


def test_every_preference_stage_has_a_record_whose_fields_its_trl_config_takes():
    """One record per stage a job can ask for; TRL's classes found where this TRL keeps them (ORPO's and
    CPO's in trl.experimental), and every keyword the record gives is a field of the stage's config."""
    assert set(STAGES) == set(PREFERENCE_STAGES)
    for stage in STAGES.values():
        config = trl_class(stage.config, stage.experimental)
        assert issubclass(config, TrainingArguments) and trl_class(stage.trainer, stage.experimental)
        given = {**PreferenceSettings().of_stage(stage.name), **stage.fixed}
        assert set(given) <= {f.name for f in dataclasses.fields(config)}, stage.name
    with pytest.raises(ImportError, match="has no PPOTrainer"):
        trl_class("PPOTrainer", "trl.experimental.cpo")
