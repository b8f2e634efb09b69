"""``train --resume`` always has something to go on from, or says in one sentence why not
(issue 22, findings 6 and 10), through the real CLI and worker on the tiny model.

- A run killed after its adapter was saved (here: while filing it in the library, whose
  lock the test holds) is finished from that adapter: filed once, with its card, not trained again.
- A newest checkpoint emptied or cut short by a crash is passed over, with a warning, for the
  one before it, and the run goes on along its own loss curve.
- A run killed mid-training with ``training.save_steps = 0`` has nothing to resume: refused in
  one sentence naming training.save_steps, no worker started.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from cli_support import cli_env, live_train, read_events, run_cli, run_dirs, tiny_train_args

from studio.core import atomic, paths, runs
from studio.core.cards import read_card
from studio.core.faults import FAULT_VARIABLE
from studio.core.library import Library

pytestmark = pytest.mark.integration  # starts lora-studio processes (tests/conftest.py's quick-tier guard)

TIMEOUT = 240


def train_args(model_dir: Path, steps: int, save_steps: int) -> list[str]:
    """test_cli_faults.py's deterministic job: no dropout, a constant learning rate."""
    return [*tiny_train_args(model_dir, max_steps=steps, save_steps=save_steps), "--dropout", "0",
            "--set", "training.lr_scheduler=\"constant\"", "--set", "training.warmup_ratio=0"]


def words(text: str) -> str:
    """The output as one line of single-spaced words: a sentence that rich wrapped is whole again."""
    return " ".join(text.split())


def losses(events: list[dict]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["type"] == "step"}


def wait_for_the_saved_adapter(live, deadline_s: float = 180) -> Path:
    """The run folder once its adapter is in place (renamed in whole, so it is complete)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert live.proc.poll() is None, live.proc.stdout.read()
        found = run_dirs(live.home)
        if found and (found[0] / runs.ADAPTER_NAME / "card.json").is_file():
            live.run_dir = found[0]
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no adapter saved within {deadline_s} s")


def test_a_run_killed_after_saving_its_adapter_is_finished_from_it(tiny_model_dir, tmp_path):
    """save_steps = 0, so no checkpoint at all: the worker is SIGKILLed while it waits for the
    library's lock (held here) to file the adapter it has just saved. The resume files it once,
    with its card, and ends done with no step trained."""
    home = tmp_path / "home"
    library_root = home / "library"
    library_root.mkdir(parents=True, mode=paths.PRIVATE_DIR)
    with atomic.locked(library_root / ".lock"):
        with live_train(train_args(tiny_model_dir, steps=4, save_steps=0), home) as live:
            run_dir = wait_for_the_saved_adapter(live)
            os.kill(live.worker_pid(), signal.SIGKILL)
            killed = live.finish(timeout=60)
    assert killed.returncode != 0 and "SIGKILL" in killed.output, killed.output
    assert runs.summarize(run_dir).status == "failed"
    assert not list((run_dir / runs.CHECKPOINTS_NAME).glob("checkpoint-*"))
    saved = read_card(run_dir / runs.ADAPTER_NAME)
    with Library(library_root) as library:
        assert library.entries() == []

    env = cli_env(home)
    count = len(read_events(run_dir))
    resumed = run_cli("train", "--resume", run_dir.name, env=env, timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.output
    assert "Traceback" not in resumed.output
    assert "all 4 steps were trained and the adapter saved before the worker ended" in words(resumed.output)
    assert "without training again" in words(resumed.output)
    new = read_events(run_dir)[count:]
    assert [e for e in new if e["type"] == "step"] == []  # nothing trained again
    assert new[-1]["type"] == "done" and runs.summarize(run_dir).status == "done"
    outputs = new[-1]["outputs"]
    assert outputs["adapter_path"] == str(run_dir / runs.ADAPTER_NAME) and outputs["stopped"] is False
    with Library(library_root) as library:
        (entry,) = library.entries()  # filed once
        card = library.card(entry.ref)
    assert entry.run_id == run_dir.name and entry.ref == outputs["library_ref"]
    assert card.base_model.id == str(tiny_model_dir)
    assert card.base_model.architecture and card.base_model.architecture == saved.base_model.architecture
    assert card.metrics.to_dict() == saved.metrics.to_dict() and card.metrics.steps == 4
    assert card.metrics.train_loss is not None and card.metrics.eval_loss is not None


def test_an_emptied_newest_checkpoint_is_skipped_and_the_run_goes_on_from_the_one_before(tiny_model_dir, tmp_path):
    """A hard crash in step 5 (drill crash@5) keeps checkpoints 2, 3 and 4. Checkpoint 4's
    trainer_state.json is then emptied and checkpoint 3's weights cut short, as a crash or a
    power cut can leave them: the resume names both, starts at step 3 from checkpoint 2, and
    repeats steps 3 and 4 with the losses the first attempt (the straight run up to the crash) had."""
    home = tmp_path / "home"
    env = cli_env(home)
    args = [*train_args(tiny_model_dir, steps=6, save_steps=1), "--set", "training.save_total_limit=3"]
    crashed = run_cli(*args, env={**env, FAULT_VARIABLE: "crash@5"}, timeout=TIMEOUT)
    assert crashed.returncode != 0 and "SIGSEGV" in crashed.flat, crashed.output
    (run_dir,) = run_dirs(home)
    first = losses(read_events(run_dir))
    assert sorted(first) == [1, 2, 3, 4]
    checkpoints = run_dir / runs.CHECKPOINTS_NAME
    assert [p.name for p in runs.valid_checkpoints(run_dir)] == ["checkpoint-2", "checkpoint-3", "checkpoint-4"]
    (checkpoints / "checkpoint-4" / "trainer_state.json").write_text("")
    weights = checkpoints / "checkpoint-3" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])

    count = len(read_events(run_dir))
    resumed = run_cli("train", "--resume", run_dir.name, env=env, timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.output
    assert "Traceback" not in resumed.output
    said = words(resumed.output)
    assert "checkpoint-4 was skipped: its trainer_state.json is empty; resuming from checkpoint-2" in said
    assert "checkpoint-3 was skipped: its adapter_model.safetensors is incomplete" in said
    new = read_events(run_dir)[count:]
    warnings = [e["message"] for e in new if e["type"] == "warning"]
    assert sum("was skipped" in w for w in warnings) == 2
    assert any("resuming from" in (e.get("detail") or "") and "checkpoint-2" in (e.get("detail") or "")
               for e in new if e["type"] == "phase")
    after = losses(new)
    assert sorted(after) == [3, 4, 5, 6]
    for step in (3, 4):
        assert after[step] == pytest.approx(first[step], rel=1e-3, abs=1e-3)
    assert new[-1]["type"] == "done" and runs.summarize(run_dir).status == "done"


def test_a_run_killed_mid_training_without_checkpoints_is_refused_in_one_sentence(tiny_model_dir, tmp_path):
    """save_steps = 0 and a hard crash in step 1 (drill crash@1): no checkpoint, no adapter."""
    home = tmp_path / "home"
    env = cli_env(home)
    crashed = run_cli(*train_args(tiny_model_dir, steps=4, save_steps=0), env={**env, FAULT_VARIABLE: "crash@1"},
                      timeout=TIMEOUT)
    assert crashed.returncode != 0, crashed.output
    (run_dir,) = run_dirs(home)
    events = read_events(run_dir)

    refused = run_cli("train", "--resume", run_dir.name, env=env)
    assert refused.returncode == 2, refused.output
    assert "Traceback" not in refused.output
    said = words(refused.output)
    assert said == (f"error: {run_dir.name} has no complete checkpoint to resume from: it ran with "
                    "training.save_steps = 0, which keeps none, so start it again with --save-steps N "
                    "(training.save_steps) to keep one every N steps")
    assert read_events(run_dir) == events  # no worker was started
