"""No client of ``control.sock`` can take the controls away from a run.

Clients that hang up before their reply, fall silent, send garbage or a line without end are
each dropped on their own; every other client is still answered, and the run goes on. The
server is attacked alone (with small limits, to be quick) and inside a real training worker.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from worker_harness import LiveWorker, tiny_job

from studio.core import control_client, protocol, runs
from studio.engine.control import JobControl
from studio.worker import commands
from studio.worker.control_socket import CommandServer

MiB = 1 << 20
GARBAGE = [b"\xff\xfe\xfd\n", b"not json\n", b"[1, 2, 3]\n", b'"stop"\n', b"\n", b'{"cmd": 7}\n',
           b"\x00" * 300 + b"\n", b'{"cmd": "stop"']  # the last: cut off mid-object, then EOF


def connect(run_dir: Path, timeout_s: float = 30.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    sock.connect(str(run_dir / control_client.SOCKET_NAME))
    return sock


def exchange(run_dir: Path, payload: bytes) -> dict:
    """Send raw bytes, say nothing more, read the one reply."""
    with connect(run_dir) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return json.loads(sock.makefile("rb").readline())


def hang_up_before_the_reply(run_dir: Path, cmd: str) -> None:
    with connect(run_dir) as sock:
        sock.sendall(protocol.encode_command(cmd).encode())


def stream_without_newline(run_dir: Path, up_to: int) -> tuple[int, bytes]:
    """Send up to ``up_to`` bytes of one endless line; returns what went out, and what came back
    once the server hung up."""
    chunk = b"x" * MiB
    sent = 0
    with connect(run_dir) as sock:
        try:
            while sent < up_to:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = b""
        try:
            while part := sock.recv(4096):
                reply += part
        except ConnectionResetError:  # the server closed with our bytes unread; its reply came first
            pass
    return sent, reply


def drained(sock: socket.socket) -> bytes:
    """All a client got until the server closed it."""
    got = b""
    while part := sock.recv(4096):
        got += part
    return got


def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def client_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "control-client"]


class Served:
    """A CommandServer feeding a plain JobControl, with limits small enough to test quickly."""

    def __init__(self, run_dir: Path, **limits):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.control = JobControl()
        self.server = CommandServer(run_dir / control_client.SOCKET_NAME,
                                    lambda line: commands.apply(line, self.control, lambda _reason: None), **limits)
        assert self.server.start() is self.server

    def send(self, cmd: str) -> dict:
        return control_client.send_command(self.run_dir, cmd)


@pytest.fixture
def served(tmp_path: Path):
    made = Served(tmp_path / "run", line_timeout_s=0.5, max_clients=8)
    yield made
    made.server.close()
    assert eventually(lambda: not client_threads())  # close() ends every client's thread


def test_the_socket_is_its_owners_alone(served: Served):
    """Only the owner may connect (issue 22): the socket file is 0600, beside its 0700 run folder."""
    import stat

    mode = stat.S_IMODE((served.run_dir / control_client.SOCKET_NAME).stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)
    assert served.send("pause") == {"ok": True, "cmd": "pause"}


def test_clients_that_hang_up_before_their_reply_harm_nothing(served: Served):
    for _ in range(20):
        hang_up_before_the_reply(served.run_dir, "checkpoint")
    assert served.send("pause") == {"ok": True, "cmd": "pause"}
    assert served.control.paused and served.control.take_checkpoint_request()
    assert served.send("resume") == {"ok": True, "cmd": "resume"}
    assert not served.control.paused


def test_silent_clients_are_dropped_without_blocking_others(served: Served):
    silent = [connect(served.run_dir) for _ in range(6)]
    half = connect(served.run_dir)
    half.sendall(b'{"cmd": "pa')  # half a line, then nothing
    assert served.send("pause") == {"ok": True, "cmd": "pause"}
    for sock in [*silent, half]:
        with sock:
            got = drained(sock)  # the server hangs up on them (the socket's own 30 s would raise)
            assert json.loads(got) == {"ok": False, "error": "no command line within 0.5 s"}
    assert served.control.paused


def test_extra_clients_are_refused_not_queued(tmp_path: Path):
    made = Served(tmp_path / "run", line_timeout_s=60.0, max_clients=2)
    try:
        held = [connect(made.run_dir) for _ in range(2)]
        reply = made.send("stop")
        assert reply["ok"] is False and reply["error"].startswith("busy: 2 clients")
        assert not made.control.stop_requested
        for sock in held:
            sock.close()
        assert eventually(lambda: not client_threads())  # their slots come back
        assert made.send("stop") == {"ok": True, "cmd": "stop"}
    finally:
        made.server.close()


def test_an_endless_line_is_cut_off_at_the_cap(tmp_path: Path):
    made = Served(tmp_path / "run", max_line_bytes=64 * 1024)
    try:
        sent, reply = stream_without_newline(made.run_dir, up_to=64 * MiB)
        assert sent < 64 * MiB  # the server stopped reading long before
        assert json.loads(reply) == {"ok": False, "error": "command line longer than 65536 bytes"}
        # A line over the cap that arrives whole, newline and all, is refused the same way.
        assert exchange(made.run_dir, b'{"cmd": "stop", "pad": "' + b"y" * 70_000 + b'"}\n')["ok"] is False
        assert made.send("pause")["ok"] and not made.control.stop_requested
    finally:
        made.server.close()


@pytest.mark.parametrize("payload", GARBAGE, ids=lambda p: repr(p[:12]))
def test_garbage_gets_an_error_and_the_next_client_works(served: Served, payload: bytes):
    reply = exchange(served.run_dir, payload)
    assert reply["ok"] is False and reply["error"]
    assert not served.control.stop_requested
    assert served.send("checkpoint") == {"ok": True, "cmd": "checkpoint"}


def test_a_command_that_fails_inside_is_answered_and_logged(served: Served, caplog):
    def rank_gone(cmd: str) -> None:  # like forwarding to ranks that have died
        if cmd == "checkpoint":
            raise BrokenPipeError("the ranks are gone")

    served.control.add_listener(rank_gone)
    with caplog.at_level(logging.INFO, logger="studio.worker.control_socket"):
        reply = served.send("checkpoint")
        assert reply == {"ok": False, "error": "the worker could not apply it: the ranks are gone"}
        assert served.send("pause") == {"ok": True, "cmd": "pause"}
    assert any("could not apply" in r.getMessage() and r.exc_info for r in caplog.records)


def test_close_hangs_up_on_connected_clients(tmp_path: Path):
    made = Served(tmp_path / "run", line_timeout_s=60.0)
    sock = connect(made.run_dir)
    assert eventually(lambda: len(client_threads()) == 1)
    made.server.close()
    with sock:
        assert drained(sock) == b""
    assert eventually(lambda: not client_threads())
    assert not (made.run_dir / control_client.SOCKET_NAME).exists()


@pytest.mark.integration
def test_a_training_worker_keeps_its_controls_under_attack(tiny_model_dir, tmp_path: Path):
    run_dir = tmp_path / "run"
    worker = LiveWorker(tiny_job(tiny_model_dir, training={"max_steps": 100_000}), run_dir)
    try:
        worker.wait_for(lambda e: isinstance(e, protocol.Step))
        process = psutil.Process(worker.proc.pid)

        # (b) Six idle clients hold connections; a command is still answered, while they wait.
        idle = [connect(run_dir) for _ in range(6)]
        assert control_client.send_command(run_dir, "pause") == {"ok": True, "cmd": "pause"}
        for sock in idle:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # still connected: not answered, not dropped
                sock.recv(1)
            sock.settimeout(30)
        worker.wait_for(lambda e: isinstance(e, protocol.Phase) and e.name == "paused")

        # (c) One endless line while the run is paused (its memory is still): cut off at the cap.
        rss_before = process.memory_info().rss
        sent, reply = stream_without_newline(run_dir, up_to=300 * MiB)
        rss_growth = process.memory_info().rss - rss_before
        assert json.loads(reply) == {"ok": False, "error": "command line longer than 1048576 bytes"}
        assert sent < 300 * MiB and rss_growth < 16 * MiB, (sent, rss_growth)
        print(f"endless line: {sent / MiB:.0f} MiB went out of 300, worker RSS grew {rss_growth / MiB:.1f} MiB")

        # (a) Clients that send a checkpoint and hang up: it is taken, and commands still work.
        for _ in range(5):
            hang_up_before_the_reply(run_dir, "checkpoint")
        assert control_client.send_command(run_dir, "resume") == {"ok": True, "cmd": "resume"}
        saved = worker.wait_for(lambda e: isinstance(e, protocol.Checkpoint))
        assert Path(saved.path).is_dir()

        # (d) Garbage, invalid JSON, a non-object: an error each, and the next client is answered.
        for payload in GARBAGE:
            assert exchange(run_dir, payload)["ok"] is False
        assert control_client.send_command(run_dir, "pause") == {"ok": True, "cmd": "pause"}
        assert control_client.send_command(run_dir, "resume") == {"ok": True, "cmd": "resume"}
        assert runs.summarize(run_dir).status == "running"

        # The idle clients were dropped on their own, each told why.
        for sock in idle:
            with sock:
                assert json.loads(drained(sock)) == {"ok": False, "error": "no command line within 5 s"}

        # (e) The run stops cleanly, and says so.
        assert control_client.send_command(run_dir, "stop") == {"ok": True, "cmd": "stop"}
        done = worker.wait_for(lambda e: isinstance(e, protocol.Done))
        assert worker.finish() == protocol.EXIT_OK
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()
    assert done.outputs["stopped"] is True
    assert runs.summarize(run_dir).status == "stopped"
    assert not (run_dir / control_client.SOCKET_NAME).exists()
    log = (run_dir / runs.LOG_NAME).read_text(encoding="utf-8")
    for trouble in ("a client silent for 5 s", "a client whose line passed 1048576 bytes", "bad command"):
        assert trouble in log

