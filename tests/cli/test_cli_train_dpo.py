"""``lora-studio train --stage dpo`` through the real worker: the run ends done, its steps carry the
reward margins, and the adapter lands in the library with its stage on the card."""

from __future__ import annotations

import json

import pytest
from cli_support import cli_env, read_events, run_cli, run_dirs, tiny_train_args


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
