"""The worker process speaks the protocol exactly: events on stdout, commands, exit codes."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
from worker_harness import LiveWorker, tiny_job

from studio.core import control_client, protocol, runs

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)


def is_step(event) -> bool:
    return isinstance(event, protocol.Step)


def test_stop_mid_run_saves_a_loadable_adapter_and_exits_0(tiny_model_dir, tmp_path):
    worker = LiveWorker(tiny_job(tiny_model_dir), tmp_path / "run")
    hello = worker.wait_for(lambda e: isinstance(e, protocol.Hello))
    assert hello.pid == worker.proc.pid and hello.versions["torch"]
    worker.wait_for(is_step)
    worker.send("stop")
    done = worker.wait_for(lambda e: isinstance(e, protocol.Done))
    assert worker.finish() == protocol.EXIT_OK
    assert done.outputs["stopped"] is True
    last_step = max(e.step for e in worker.of(protocol.Step))
    assert last_step < 400
    adapter = tmp_path / "run" / "adapter"
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, adapter)
    assert model(input_ids=torch.tensor([[1, 2, 3]])).logits.shape[-1] == base.config.vocab_size
    # The stop also left a resumable checkpoint at the step it stopped on.
    assert runs.latest_checkpoint(tmp_path / "run").name == f"checkpoint-{last_step}"
    summary = runs.summarize(tmp_path / "run")
    assert summary.status == "stopped" and summary.step == last_step


def test_stdout_carries_only_events_and_files_are_kept(tiny_model_dir, tmp_path):
    worker = LiveWorker(tiny_job(tiny_model_dir, training={"max_steps": 3}), tmp_path / "run")
    assert worker.finish() == protocol.EXIT_OK
    run = tmp_path / "run"
    assert worker.lines and all(json.loads(line)["v"] == protocol.PROTOCOL_VERSION for line in worker.lines)
    assert [e.type for e in worker.events][0] == "hello"
    assert worker.events[-1].type == "done"
    on_disk = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in on_disk] == [e.type for e in worker.events]
    assert json.loads((run / "job.json").read_text())["training"]["max_steps"] == 3
    log = (run / "worker.log").read_text()
    assert "Loading weights" in log or "INFO" in log
    assert not (run / "control.sock").exists()


def test_sigkill_leaves_a_failed_run_with_nothing_half_written(tiny_model_dir, tmp_path):
    worker = LiveWorker(tiny_job(tiny_model_dir, training={"save_steps": 2}), tmp_path / "run")
    worker.wait_for(lambda e: isinstance(e, protocol.Checkpoint))
    assert runs.summarize(tmp_path / "run").status == "running"
    worker.proc.send_signal(signal.SIGKILL)
    assert worker.finish() == -signal.SIGKILL
    run = tmp_path / "run"
    summary = runs.summarize(run)
    assert summary.status == "failed" and "died" in summary.message
    assert not (run / "adapter").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".") and "staging" in p.name]
    # Every checkpoint still listed as valid is complete.
    for checkpoint in runs.valid_checkpoints(run):
        assert (checkpoint / "adapter_model.safetensors").stat().st_size > 0
        assert (checkpoint / "optimizer.pt").exists()


def test_sigterm_acts_as_stop(tiny_model_dir, tmp_path):
    worker = LiveWorker(tiny_job(tiny_model_dir), tmp_path / "run")
    worker.wait_for(is_step)
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.finish() == protocol.EXIT_OK
    assert worker.events[-1].type == "done" and worker.events[-1].outputs["stopped"]


def test_cancel_exits_5_and_saves_nothing(tiny_model_dir, tmp_path):
    worker = LiveWorker(tiny_job(tiny_model_dir), tmp_path / "run")
    worker.wait_for(is_step)
    worker.send("cancel")
    assert worker.finish() == protocol.EXIT_CANCELLED
    assert worker.events[-1].type == "error" and worker.events[-1].kind == "cancelled"
    assert not (tmp_path / "run" / "adapter").exists()
    assert runs.summarize(tmp_path / "run").status == "cancelled"


def test_pause_resume_and_checkpoint_through_the_control_socket(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    worker = LiveWorker(tiny_job(tiny_model_dir), run)
    worker.wait_for(is_step)
    assert control_client.send_command(run, "pause")["ok"]
    paused = worker.wait_for(lambda e: isinstance(e, protocol.Phase) and e.name == "paused")
    steps_before = len(worker.of(protocol.Step))
    import time

    time.sleep(1.5)
    assert len(worker.of(protocol.Step)) == steps_before  # nothing moves while paused
    assert control_client.send_command(run, "checkpoint")["ok"]
    assert control_client.send_command(run, "resume")["ok"]
    checkpoint = worker.wait_for(lambda e: isinstance(e, protocol.Checkpoint))
    assert checkpoint.step >= paused.done
    assert control_client.send_command(run, "stop")["ok"]
    assert worker.finish() == protocol.EXIT_OK


def test_bad_job_exits_2_with_the_field_named(tmp_path):
    worker = LiveWorker({"kind": "train", "lora": {"r": -4}}, tmp_path / "run")
    assert worker.finish() == protocol.EXIT_BAD_JOB
    error = worker.events[-1]
    assert error.kind == "config" and "lora.r must be a positive integer, got -4" in error.message
    assert (tmp_path / "run" / "events.jsonl").exists()


def test_bad_dataset_row_exits_3_naming_line_and_field(tiny_model_dir, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": 7}\n', encoding="utf-8")
    worker = LiveWorker(tiny_job(tiny_model_dir, dataset={"path": str(data)}), tmp_path / "run")
    assert worker.finish() == protocol.EXIT_DATA
    error = worker.events[-1]
    assert error.kind == "data"
    assert "data.jsonl" in error.message and "line 2" in error.message and "completion" in error.message


def test_missing_model_is_a_model_error(tmp_path):
    worker = LiveWorker({"kind": "train", "model": {"path": str(tmp_path / "nope")}}, tmp_path / "run")
    assert worker.finish() == protocol.EXIT_INTERNAL
    assert worker.events[-1].kind == "model" and "does not exist" in worker.events[-1].message


def test_a_merge_job_with_problems_names_them_all(tmp_path):
    worker = LiveWorker({"kind": "merge", "adapters": ["a"], "weights": [1, 2], "combination": "tie"}, tmp_path / "r")
    assert worker.finish() == protocol.EXIT_BAD_JOB
    message = worker.events[-1].message
    assert "two or more adapters" in message and "one weight per adapter" in message and "'ties'" in message


def test_a_second_worker_cannot_take_a_running_run(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    first = LiveWorker(tiny_job(tiny_model_dir), run)
    first.wait_for(is_step)
    second = LiveWorker(tiny_job(tiny_model_dir, training={"max_steps": 7}), run)
    assert second.finish() == protocol.EXIT_BAD_JOB
    assert "already running" in second.events[-1].message
    assert json.loads((run / "job.json").read_text())["training"]["max_steps"] == 400  # untouched
    first.send("cancel")
    first.finish()
