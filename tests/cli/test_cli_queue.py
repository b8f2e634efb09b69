"""``lora-studio queue``: add, list, move, cancel, retry, remove, pause and resume, as a user types
them (no runner is started here: --no-start and a paused queue; tests/worker/test_queue_runner.py
runs jobs)."""

from __future__ import annotations

import json

import pytest
from cli_support import cli_env, run_cli, tiny_train_args
from tiny_jobs import tiny_job

from studio.core.job_schema import dumps, job_from_dict

pytestmark = pytest.mark.integration  # runs lora-studio commands (no worker: nothing is started)


def _listed(env) -> dict:
    result = run_cli("queue", "list", "--json", env=env)
    assert result.returncode == 0, result.output
    return json.loads(result.stdout)


def test_a_user_queues_reorders_and_tends_jobs(studio_home, tiny_model_dir, tmp_path):
    env = cli_env()
    add = ["queue", "add", *tiny_train_args(tiny_model_dir)[1:], "--no-start"]
    first = run_cli(*add, "--name", "first", env=env)
    assert first.returncode == 0, first.output
    assert "queued #1 first (1 waiting; needs the CPU)" in first.flat
    job_file = tmp_path / "second.json"
    job_file.write_text(dumps(tiny_job(tiny_model_dir, output={"name": "second"})))
    assert run_cli("queue", "add", job_file, "--label", "my second", "--no-start", env=env).returncode == 0
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(dumps(job_from_dict({"kind": "eval", "model": {"path": str(tiny_model_dir)}})))
    assert "queued #3" in run_cli("queue", "add", evaluation, "--no-start", env=env).flat

    listed = _listed(env)
    assert [(e["id"], e["label"], e["kind"]) for e in listed["entries"]] == [
        (1, "first", "train"), (2, "my second", "train"), (3, f"eval: {tiny_model_dir.name} on bundled", "eval")]
    assert listed["runner_pid"] is None and not listed["paused"]

    moved = run_cli("queue", "move", "3", "1", env=env)
    assert "waiting, in order: #3" in moved.flat and [e["id"] for e in _listed(env)["entries"]] == [3, 1, 2]

    paused = run_cli("queue", "pause", "--on-failure", env=env)
    assert "queue paused" in paused.flat and "pauses when a job fails" in paused.flat
    listed = _listed(env)
    assert listed["paused"] and listed["stop_on_failure"]
    assert "the queue is paused" in run_cli(*add, "--name", "fourth", env=env).flat.replace("--no-start", "")

    assert "#1 cancelled before it started" in run_cli("queue", "cancel", "1", env=env).flat
    assert "#1 first queued again" in run_cli("queue", "retry", "1", env=env).flat  # paused: nothing starts
    assert "removed #2" in run_cli("queue", "remove", "2", env=env).flat
    listed = _listed(env)
    assert [(e["id"], e["state"]) for e in listed["entries"]] == [(3, "queued"), (4, "queued"), (1, "queued")]
    assert listed["runner_pid"] is None
    table = run_cli("queue", "list", env=env)
    assert "queue paused: paused by hand; pauses when a job fails" in table.flat


def test_refusals_say_why_and_queue_nothing(studio_home, tiny_model_dir, tmp_path):
    env = cli_env()
    too_fast = run_cli("queue", "add", *tiny_train_args(tiny_model_dir)[1:], "--lr", "5", "--no-start", env=env)
    assert too_fast.returncode == 2 and "training.learning_rate must be in (0, 1)" in too_fast.flat
    missing = run_cli("queue", "add", "--model", str(tiny_model_dir), "--dataset", str(tmp_path / "gone.jsonl"),
                      "--no-start", env=env)
    assert missing.returncode != 0 and "gone.jsonl" in missing.flat
    unknown = run_cli("queue", "cancel", "7", env=env)
    assert unknown.returncode == 2 and "no queue entry #7" in unknown.flat
    assert _listed(env)["entries"] == []
    assert "the queue is empty" in run_cli("queue", "list", env=env).flat
