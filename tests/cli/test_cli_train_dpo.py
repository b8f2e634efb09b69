"""``lora-studio train --stage dpo`` (and kto) through the real worker: the run ends done, its steps carry
the stage's numbers, and the adapter lands in the library with its stage on the card."""

from __future__ import annotations

import json

import pytest
from cli_support import cli_env, read_events, run_cli, run_dirs, tiny_train_args

from studio.core.resources import bundled_dataset_path


@pytest.mark.integration
def test_a_dpo_run_through_the_worker_ends_done_with_its_margins(tiny_model_dir, studio_home):
    args = tiny_train_args(tiny_model_dir, max_steps=6, save_steps=0)
    result = run_cli(*args, "--stage", "dpo", "--dataset", "bundled-preference", "--lr", "5e-3",
                     "--set", "preference.beta=0.2", env=cli_env(studio_home), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(studio_home)
    events = read_events(run_dir)
    steps = [e for e in events if e["type"] == "step"]
    assert [s["step"] for s in steps] == list(range(1, 7))
    assert steps[0]["preference"]["rewards/margins"] == 0.0 < steps[-1]["preference"]["rewards/margins"]
    (done,) = [e for e in events if e["type"] == "done"]
    outputs = done["outputs"]
    assert outputs["metrics"]["preference"]["eval_rewards/margins"] > 0
    card = json.loads((studio_home / "library" / outputs["library_ref"] / "card.json").read_text(encoding="utf-8"))
    assert card["training"]["stage"] == "dpo" and card["preference"]["beta"] == 0.2
    # named apart from an SFT adapter of the same model and data (the shipped samples share a stem)
    assert outputs["library_ref"].split("/")[0].endswith("-captain_lora-dpo")
    listed = run_cli("library", "list", env=cli_env(studio_home))
    assert listed.returncode == 0 and "stage" in listed.stdout and "DPO" in listed.stdout, listed.output


@pytest.mark.integration
def test_a_kto_run_of_labelled_replies_through_the_worker(tiny_model_dir, studio_home, tmp_path):
    """``--stage kto`` on a file of replies labelled desirable or not (format kto, as TRL writes it):
    its steps carry KTO's KL term and rewards, and the card its stage and weights."""
    pairs = [json.loads(line) for line in bundled_dataset_path("preference").read_text(encoding="utf-8").splitlines()]
    rows = [{"prompt": pair["prompt"][0]["content"], "completion": pair[reply][0]["content"],
             "label": reply == "chosen"} for pair in pairs[:24] for reply in ("chosen", "rejected")]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    args = tiny_train_args(tiny_model_dir, max_steps=4, save_steps=0)
    result = run_cli(*args, "--stage", "kto", "--dataset", str(data), "--lr", "1e-2",
                     "--set", "preference.desirable_weight=1.2", env=cli_env(studio_home), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(studio_home)
    events = read_events(run_dir)
    steps = [e for e in events if e["type"] == "step"]
    assert [s["step"] for s in steps] == [1, 2, 3, 4] and all("kl" in s["preference"] for s in steps)
    (done,) = [e for e in events if e["type"] == "done"]
    outputs = done["outputs"]
    assert outputs["metrics"]["preference"]["eval_rewards/margins"] > 0
    card = json.loads((studio_home / "library" / outputs["library_ref"] / "card.json").read_text(encoding="utf-8"))
    assert card["training"]["stage"] == "kto" and card["preference"]["desirable_weight"] == 1.2
    assert card["dataset"]["format"] == "kto"
