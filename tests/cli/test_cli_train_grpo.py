"""``lora-studio train --stage grpo`` through the real worker: the shipped arithmetic prompts bring their own
rewards, ``--reward`` replaces them, each step and a sample of answers say what the rewards gave, and the
adapter lands in the library with its stage on the card; a user's reward file that raises ends the run
with its file and line."""

from __future__ import annotations

import argparse
import json
import textwrap

import pytest
from cli_support import cli_env, read_events, run_cli, run_dirs, tiny_train_args

from studio.cli.job_building import add_train_flags, build_train_job
from studio.core.rewards.samples import sample_rewards


def built(*argv: str):
    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    return build_train_job(parser.parse_args(list(argv)))


def test_the_sample_brings_its_rewards_and_reward_flags_replace_them():
    assert built("--stage", "grpo", "--dataset", "bundled-arithmetic").grpo.rewards == sample_rewards(
        "bundled-arithmetic")
    job = built("--stage", "grpo", "--dataset", "bundled-arithmetic", "--reward", "exact_match:column=answer,weight=2",
                "--reward", 'contains:words=["total", "answer"]', "--reward", '{"kind": "length_window"}')
    assert job.grpo.rewards == [{"kind": "exact_match", "column": "answer", "weight": 2},
                                {"kind": "contains", "words": ["total", "answer"]}, {"kind": "length_window"}]
    assert job.training.learning_rate == pytest.approx(5e-5)  # GRPO's share of SFT's 2e-4


TINY = ("--max-length", "160", "--set", "grpo.max_completion_length=16", "--set", "grpo.sample_steps=2",
        "--max-rows", "40")


@pytest.mark.integration
def test_a_grpo_run_through_the_worker_says_its_rewards_and_lands_in_the_library(tiny_model_dir, studio_home):
    args = tiny_train_args(tiny_model_dir, max_steps=4, save_steps=0)
    result = run_cli(*args, "--stage", "grpo", "--dataset", "bundled-arithmetic", *TINY,
                     env=cli_env(studio_home), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answers at step 2:" in result.stdout and "held-out prompts: reward" in result.stdout
    (run_dir,) = run_dirs(studio_home)
    events = read_events(run_dir)
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == 4 and {"reward", "rewards/numeric_match/mean", "rewards/short/mean"} <= set(
        steps[-1]["preference"])
    samples = [e for e in events if e["type"] == "completions"]
    assert [e["step"] for e in samples] == [2, 4]
    assert set(samples[0]["samples"][0]["rewards"]) == {"numeric_match", "short", "answer_tags"}
    (done,) = [e for e in events if e["type"] == "done"]
    card = json.loads((studio_home / "library" / done["outputs"]["library_ref"] / "card.json").read_text())
    assert card["training"]["stage"] == "grpo"
    assert card["grpo"]["rewards"] == sample_rewards("bundled-arithmetic")


@pytest.mark.integration
def test_a_raising_reward_file_ends_the_run_with_its_file_and_line(tiny_model_dir, studio_home, tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text(textwrap.dedent("""\
        def reward(prompts, completions, **columns):
            return [len(c) / 0 for c in completions]
        """), encoding="utf-8")
    args = tiny_train_args(tiny_model_dir, max_steps=3, save_steps=0)
    result = run_cli(*args, "--stage", "grpo", "--dataset", "bundled-arithmetic", *TINY, "--reward",
                     f"file:path={mine}", env=cli_env(studio_home), timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    flat = " ".join(result.stdout.split())
    assert f"{mine}, line 2: ZeroDivisionError" in flat and "your own Python code" in flat
    assert "grpo.on_reward_error = 'skip'" in flat
