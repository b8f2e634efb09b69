"""GRPO on the tiny Llama (TRL's GRPOTrainer behind the worker protocol): a reward that prefers a
letter is raised over a few steps, each step says its rewards, answers go out with their scores,
the adapter reloads with plain peft; a user's reward file that raises is reported with its file
and line, and stops the run or is left out of the batch, as the job says."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import Recorder, tiny_job
from peft import PeftModel
from transformers import AutoModelForCausalLM

from studio.core import protocol
from studio.core.rewards import UserRewardError
from studio.engine.control import JobControl
from studio.engine.grpo_training import train_grpo
from studio.worker.errors import classify

LETTER_REWARD = """\
COLUMNS = []


def reward(prompts, completions, **columns):
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [text.count("e") / max(1, len(text)) for text in texts]
"""
RAISING_REWARD = """\
def reward(prompts, completions, **columns):
    scores = []
    for completion in completions:
        scores.append(1 / 0)
    return scores
"""
RAISING_LINE = 4  # the line of ``1 / 0`` above


def grpo_job(model_dir, reward_files: list[Path], steps: int, **sections):
    rewards = [{"kind": "file", "path": str(path)} for path in reward_files]
    rewards += sections.pop("extra_rewards", [])
    grpo = {"num_generations": 8, "max_completion_length": 16, "rewards": rewards, "sample_steps": 5,
            **sections.pop("grpo", {})}
    return tiny_job(model_dir, steps,
                    dataset={"path": "bundled-arithmetic", "max_rows": 64, "eval_fraction": 0.125},
                    training={"stage": "grpo", "learning_rate": 5e-2, "max_length": 160}, grpo=grpo, **sections)


def written(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("grpo-run")
    job = grpo_job(tiny_model_dir, [written(folder, "letter.py", LETTER_REWARD)], steps=20)
    rec = Recorder()
    run = train_grpo(job, folder, rec, JobControl())
    return job, folder, rec, run


def test_the_preferred_letter_becomes_more_frequent(trained):
    _job, _folder, rec, _run = trained
    rewards = [event.preference["reward"] for event in rec.of(protocol.Step)]
    assert len(rewards) == 20
    first, last = sum(rewards[:4]) / 4, sum(rewards[-4:]) / 4
    assert last > first * 1.5, rewards


def test_steps_carry_each_rewards_mean_and_the_answers_lengths(trained):
    _job, _folder, rec, _run = trained
    numbers = rec.of(protocol.Step)[-1].preference
    assert {"reward", "reward_std", "rewards/file:letter.py/mean", "completions/mean_length"} <= set(numbers)
    assert 0 < numbers["completions/mean_length"] <= 16


def test_answers_go_out_with_their_scores_every_sample_steps(trained):
    _job, _folder, rec, _run = trained
    events = rec.of(protocol.Completions)
    assert [event.step for event in events] == [5, 10, 15, 20]
    sample = events[-1].samples[0]
    assert "What is" in sample["prompt"] or "How many" in sample["prompt"]
    expected = sample["completion"].count("e") / max(1, len(sample["completion"]))
    assert sample["rewards"]["file:letter.py"] == pytest.approx(expected, abs=0.05)
    assert sample["total"] == pytest.approx(sample["rewards"]["file:letter.py"])


def test_the_adapter_reloads_with_plain_peft_and_its_card_says_grpo(trained, tiny_model_dir):
    _job, folder, _rec, run = trained
    card = json.loads((Path(run.outputs.adapter_path) / "card.json").read_text())
    assert card["training"]["stage"] == "grpo"
    assert card["metrics"]["preference"]["reward"] >= 0
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    reloaded = PeftModel.from_pretrained(base, run.outputs.adapter_path).eval()
    ids = torch.tensor([[1, 5, 9, 12, 40]])
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, run.model.eval()(input_ids=ids).logits, atol=1e-5)


def test_a_raising_reward_file_stops_the_run_naming_its_file_and_line(tiny_model_dir, tmp_path):
    path = written(tmp_path, "broken.py", RAISING_REWARD)
    job = grpo_job(tiny_model_dir, [path], steps=3)
    with pytest.raises(UserRewardError) as caught:
        train_grpo(job, tmp_path, Recorder(), JobControl())
    error = classify(caught.value)
    assert f"{path}, line {RAISING_LINE}: ZeroDivisionError" in error.message
    assert error.kind == "config" and "on_reward_error" in error.hint


def test_with_skip_a_raising_reward_is_left_out_and_the_run_goes_on(tiny_model_dir, tmp_path):
    path = written(tmp_path, "broken.py", RAISING_REWARD)
    job = grpo_job(tiny_model_dir, [path], steps=3, grpo={"on_reward_error": "skip"},
                   extra_rewards=[{"kind": "length_window", "max_length": 5, "unit": "chars"}])
    rec = Recorder()
    run = train_grpo(job, tmp_path, rec, JobControl())
    assert run.outputs.metrics.steps == 3
    warnings = [event.message for event in rec.of(protocol.Warning)]
    assert sum(f"line {RAISING_LINE}" in message for message in warnings) == 1  # said once, then counted
    assert any(re.search(r"broken\.py in \d+ batches", message) for message in warnings), warnings
    assert "rewards/length_window/mean" in rec.of(protocol.Step)[-1].preference


@pytest.mark.slow  # continuous batching on a CPU: ~45 s for two tiny steps
def test_answers_sampled_by_continuous_batching_train_too(tiny_model_dir, tmp_path):
    job = grpo_job(tiny_model_dir, [written(tmp_path, "letter.py", LETTER_REWARD)], steps=2,
                   grpo={"generation": "batched", "num_generations": 4, "max_completion_length": 8})
    rec = Recorder()
    run = train_grpo(job, tmp_path, rec, JobControl())
    assert run.trainer.use_transformers_continuous_batching and run.outputs.metrics.steps == 2
    assert all(0 < event.preference["completions/mean_length"] <= 8 for event in rec.of(protocol.Step))
