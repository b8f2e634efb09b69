"""The compare worker as a real process: loads once, answers requests from the socket and stdin."""

from __future__ import annotations

import json

import pytest
from worker_harness import LiveWorker

from studio.core import control_client, protocol

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)

ASK = [{"role": "user", "content": "Who are you?"}]


def is_ready(event) -> bool:
    return isinstance(event, protocol.Phase) and event.name == "ready"


def test_serve_answers_socket_and_stdin_requests_then_stops(tiny_model_dir, tmp_path):
    worker = LiveWorker({"kind": "serve", "model": {"path": str(tiny_model_dir)}, "idle_timeout_s": 60,
                         "sampling": {"temperature": 0, "max_new_tokens": 12}}, tmp_path / "serve")
    worker.wait_for(is_ready, timeout=120)
    reply = control_client.send_command(worker.run_dir, "generate", id="one", messages=ASK)
    assert reply == {"ok": True, "cmd": "generate"}
    first = worker.wait_for(lambda e: isinstance(e, protocol.Answer) and e.request == "one")
    assert worker.proc.stdin is not None
    worker.proc.stdin.write(protocol.encode_command("generate", id="two", messages=ASK))
    worker.proc.stdin.flush()
    second = worker.wait_for(lambda e: isinstance(e, protocol.Answer) and e.request == "two")
    assert second.text == first.text  # greedy: the same answer, from the same loaded model
    assert [t for t in worker.of(protocol.Token) if t.request == "two"]
    bad = control_client.send_command(worker.run_dir, "stop")
    assert bad["ok"]
    assert worker.finish() == 0
    done = worker.events[-1]
    assert isinstance(done, protocol.Done) and done.outputs["requests"] == 2 and done.outputs["ended"] == "stopped"
    assert json.loads((worker.run_dir / "job.json").read_text())["kind"] == "serve"
