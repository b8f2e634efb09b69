"""Fault drills through the real CLI and worker: out of memory, a NaN loss, a hard crash,
a full disk and a hang each end with the run marked correctly, the last good checkpoint
intact, nothing half-written, and ``train --resume`` continuing on the uninterrupted
run's loss curve."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cli_support import cli_env, live_train, read_events, run_cli, tiny_train_args

from studio.core import runs
from studio.core.faults import FAULT_VARIABLE

pytestmark = pytest.mark.integration  # starts lora-studio processes (tests/conftest.py's quick-tier guard)

STEPS, SAVE_EVERY = 8, 2
TIMEOUT = 240


def train_args(model_dir: Path, *extra: str) -> list[str]:
    return [*tiny_train_args(model_dir, max_steps=STEPS, save_steps=SAVE_EVERY), "--dropout", "0",
            "--set", "training.lr_scheduler=\"constant\"", "--set", "training.warmup_ratio=0", *extra]


def losses(run_dir: Path) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in read_events(run_dir) if e["type"] == "step"}


def the_run(home: Path) -> Path:
    (run_dir,) = [p for p in (home / "runs").iterdir() if p.is_dir()]
    return run_dir


@pytest.fixture(scope="module")
def straight(tiny_model_dir, tmp_path_factory) -> dict[int, float]:
    home = tmp_path_factory.mktemp("straight")
    result = run_cli(*train_args(tiny_model_dir), env=cli_env(home), timeout=TIMEOUT)
    assert result.returncode == 0, result.output
    return losses(the_run(home))


@pytest.mark.parametrize("fault, exit_code, says, kept", [
    ("oom@5", 4, "out of memory", "checkpoint-4"),
    ("nan@5", 1, "the loss became nan at step 5", "checkpoint-4"),
    ("crash@5", None, "SIGSEGV", "checkpoint-4"),
    ("disk_full@0", 6, "the disk is full", "checkpoint-8"),
])
def test_a_fault_keeps_the_last_checkpoint_and_resume_follows_the_straight_run(
        fault, exit_code, says, kept, straight, tiny_model_dir, tmp_path):
    home = tmp_path / "home"
    env = cli_env(home)
    result = run_cli(*train_args(tiny_model_dir), env={**env, FAULT_VARIABLE: fault}, timeout=TIMEOUT)
    assert result.returncode == (exit_code if exit_code is not None else result.returncode) != 0, result.output
    assert says in result.flat and "Traceback" not in result.output
    run_dir = the_run(home)
    assert runs.summarize(run_dir).status == "failed"
    assert runs.latest_checkpoint(run_dir).name == kept
    assert not (run_dir / "adapter").exists()
    assert not [p.name for p in run_dir.rglob(".*") if p.name.endswith((".staging", ".tmp"))]
    before = losses(run_dir)
    assert all(before[step] == pytest.approx(straight[step], abs=1e-4) for step in before if step < 5)

    count = len(read_events(run_dir))
    resumed = run_cli("train", "--resume", run_dir.name, env=env, timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.output
    after = {e["step"]: e["loss"] for e in read_events(run_dir)[count:] if e["type"] == "step"}
    first = int(kept.split("-")[1]) + 1
    assert sorted(after) == list(range(first, STEPS + 1))
    for step in range(first, STEPS + 1):
        assert after[step] == pytest.approx(straight[step], rel=1e-3, abs=1e-3)
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert runs.summarize(run_dir).status == "done"


def test_skip_drops_the_bad_batch_and_finishes(tiny_model_dir, tmp_path):
    env = cli_env(tmp_path / "home", **{FAULT_VARIABLE: "nan@3"})
    result = run_cli(*train_args(tiny_model_dir, "--set", 'training.on_nan="skip"'), env=env, timeout=TIMEOUT)
    assert result.returncode == 0, result.output
    run_dir = the_run(tmp_path / "home")
    events = read_events(run_dir)
    assert any(e["type"] == "warning" and "step 3" in e["message"] and "skipped" in e["message"] for e in events)
    assert events[-1]["outputs"]["metrics"]["skipped_steps"] == [3]
    assert all(e["loss"] == e["loss"] for e in events if e["type"] == "step")  # no NaN reached the log


def test_a_hung_worker_is_named_and_can_be_cancelled(tiny_model_dir, studio_home):
    args = [*train_args(tiny_model_dir), "--hang-timeout", "2"]
    with live_train(args, studio_home, **{FAULT_VARIABLE: "hang@3"}) as live:
        run_dir = live.wait_for_step()
        deadline = time.monotonic() + 60
        while not any(e["type"] == "step" and e["step"] == 2 for e in read_events(run_dir)):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(4)  # past the 2 s timeout, with system events still arriving
        cancel = run_cli("stop", run_dir.name, "--command", "cancel")
        assert cancel.returncode == 0, cancel.output
        result = live.finish(timeout=60)
    assert "no progress for" in result.flat and "since step 2" in result.flat and "may be hung" in result.flat
    assert runs.summarize(run_dir).status == "cancelled"
    assert runs.latest_checkpoint(run_dir).name == "checkpoint-2"
