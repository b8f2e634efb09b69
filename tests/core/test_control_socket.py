"""The control socket: commands from a client reach a running job's JobControl."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from studio.core import control_client, protocol
from studio.engine.control import JobControl
from studio.worker.commands import ControlSocket


class Server:
    def __init__(self, run_dir: Path):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.control = JobControl()
        self.cancelled = threading.Event()
        self.reasons: list[str] = []
        self.socket = ControlSocket(run_dir, self.control, self.on_cancel)

    def on_cancel(self, reason: str) -> None:
        self.reasons.append(reason)
        self.cancelled.set()


@pytest.fixture(params=["short", "long"])
def server(request, tmp_path: Path):
    run_dir = tmp_path / "runs" / "20260101-000000-abcd"
    if request.param == "long":
        run_dir = tmp_path / ("a-rather-long-folder-name-" * 4) / "runs" / "20260101-000000-abcd"
        assert len(str(run_dir / control_client.SOCKET_NAME)) > 110
    made = Server(run_dir)
    cwd = Path.cwd()
    assert made.socket.start() is made.socket
    assert Path.cwd() == cwd  # the bind's chdir is undone
    yield made
    made.socket.close()


def connect(run_dir: Path) -> socket.socket:
    """A raw client socket, connected by a relative name as the client does for long paths."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    cwd = Path.cwd()
    try:
        os.chdir(run_dir)
        sock.connect(control_client.SOCKET_NAME)
    finally:
        os.chdir(cwd)
    return sock


def raw_exchange(run_dir: Path, payload: bytes) -> dict:
    """Send bytes the client would refuse to send; read the one-line reply."""
    with connect(run_dir) as sock:
        sock.sendall(payload)
        return json.loads(sock.makefile("rb").readline())


def test_pause_resume_checkpoint_stop(server: Server):
    control, run_dir = server.control, server.run_dir
    assert (run_dir / control_client.SOCKET_NAME).exists()
    assert not control.paused and not control.stop_requested

    assert control_client.send_command(run_dir, "pause") == {"ok": True, "cmd": "pause"}
    assert control.paused

    assert control_client.send_command(run_dir, "resume") == {"ok": True, "cmd": "resume"}
    assert not control.paused

    assert control_client.send_command(run_dir, "checkpoint") == {"ok": True, "cmd": "checkpoint"}
    assert control.take_checkpoint_request()
    assert not control.take_checkpoint_request()

    control_client.send_command(run_dir, "pause")
    assert control_client.send_command(run_dir, "stop") == {"ok": True, "cmd": "stop"}
    assert control.stop_requested
    assert not control.paused  # a stop wakes a paused job so it can save and exit
    assert not control.cancel_requested and not server.cancelled.is_set()


def test_cancel_calls_back(server: Server):
    assert control_client.send_command(server.run_dir, "cancel") == {"ok": True, "cmd": "cancel"}
    assert server.control.cancel_requested
    assert server.cancelled.wait(5) and server.reasons == [""]  # a user's cancel gives no reason


def test_a_cancel_passes_its_reason_on(server: Server):
    reply = control_client.send_command(server.run_dir, "cancel", reason="pruned by the sweep at step 2")
    assert reply == {"ok": True, "cmd": "cancel"}
    assert server.cancelled.wait(5) and server.reasons == ["pruned by the sweep at step 2"]


def test_bad_command_gets_ok_false(server: Server):
    reply = raw_exchange(server.run_dir, b'{"cmd": "explode"}\n')
    assert reply["ok"] is False and "unknown command" in reply["error"]
    reply = raw_exchange(server.run_dir, b"not json\n")
    assert reply["ok"] is False and "not JSON" in reply["error"]
    # The server keeps serving after bad input.
    assert control_client.send_command(server.run_dir, "pause")["ok"] is True


def test_several_commands_on_one_connection(server: Server):
    payload = (protocol.encode_command("pause") + protocol.encode_command("checkpoint")).encode()
    with connect(server.run_dir) as sock:
        sock.sendall(payload)
        stream = sock.makefile("rb")
        assert json.loads(stream.readline()) == {"ok": True, "cmd": "pause"}
        assert json.loads(stream.readline()) == {"ok": True, "cmd": "checkpoint"}
    assert server.control.paused and server.control.take_checkpoint_request()


def test_client_refuses_unknown_commands_before_connecting(tmp_path: Path):
    with pytest.raises(protocol.ProtocolError):
        control_client.send_command(tmp_path, "explode")


def test_no_socket_is_an_oserror(tmp_path: Path):
    with pytest.raises(OSError):
        control_client.send_command(tmp_path, "stop", timeout_s=1)
    long_dir = tmp_path / ("x" * 120)
    long_dir.mkdir()
    cwd = Path.cwd()
    with pytest.raises(OSError):
        control_client.send_command(long_dir, "stop", timeout_s=1)
    assert Path.cwd() == cwd


def test_closed_socket_is_an_oserror(tmp_path: Path):
    made = Server(tmp_path / "run")
    made.socket.start()
    assert control_client.send_command(made.run_dir, "pause")["ok"]
    made.socket.close()
    assert not (made.run_dir / control_client.SOCKET_NAME).exists()
    with pytest.raises(OSError):
        control_client.send_command(made.run_dir, "resume", timeout_s=1)
    assert made.control.paused


def test_a_stale_socket_file_is_replaced(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / control_client.SOCKET_NAME).write_text("left by a dead worker")
    made = Server(run_dir)
    assert made.socket.start() is made.socket
    try:
        assert control_client.send_command(run_dir, "checkpoint")["ok"]
    finally:
        made.socket.close()
