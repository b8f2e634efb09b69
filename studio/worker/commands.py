"""Where commands reach the worker: stdin, a Unix socket in the run folder, signals.

All three feed the same :class:`JobControl`. The socket lets a GUI started later
(or a second terminal) stop or pause a run it did not launch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from studio.core import protocol
from studio.core.control_client import SOCKET_NAME
from studio.engine.control import JobControl

log = logging.getLogger(__name__)


def apply(line: str | bytes, control: JobControl, on_cancel: Callable[[], None]) -> str:
    cmd = protocol.decode_command(line)
    log.info("command: %s", cmd)
    if cmd == "generate":
        control.submit(protocol.decode_request(line))
        return cmd
    control.request(cmd)
    if cmd == "cancel":
        on_cancel()
    return cmd


def read_stdin(control: JobControl, on_cancel: Callable[[], None]) -> threading.Thread:
    def loop() -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                apply(line, control, on_cancel)
            except protocol.ProtocolError as exc:
                log.warning("ignored a bad command on stdin: %s", exc)

    thread = threading.Thread(target=loop, name="stdin-commands", daemon=True)
    if sys.stdin is not None and not sys.stdin.closed:
        thread.start()
    return thread


def install_signals(control: JobControl) -> None:
    """SIGTERM (and SIGINT when run by hand) ask for a clean stop."""
    def handler(signum, _frame) -> None:
        log.info("signal %s: stopping after this step", signum)
        control.request("stop")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class ControlSocket:
    """A Unix socket accepting JSON command lines; answers ``{"ok": true, "cmd": ...}``."""

    def __init__(self, run_dir: Path, control: JobControl, on_cancel: Callable[[], None]):
        self.path = Path(run_dir) / SOCKET_NAME
        self.control = control
        self.on_cancel = on_cancel
        self.sock: socket.socket | None = None

    def start(self) -> ControlSocket | None:
        if not hasattr(socket, "AF_UNIX"):
            return None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bind by a relative name: socket paths are limited to ~107 bytes, run folders
        # can be longer. Called before any other thread exists, so chdir is safe here.
        cwd = os.getcwd()
        try:
            os.chdir(self.path.parent)
            sock.bind(self.path.name)
        except OSError as exc:
            log.warning("no control socket: %s", exc)
            sock.close()
            return None
        finally:
            os.chdir(cwd)
        sock.listen(4)
        self.sock = sock
        threading.Thread(target=self._serve, name="control-socket", daemon=True).start()
        return self

    def _serve(self) -> None:
        assert self.sock is not None
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as stream:
                for line in stream:
                    try:
                        cmd = apply(line, self.control, self.on_cancel)
                        reply = {"ok": True, "cmd": cmd}
                    except protocol.ProtocolError as exc:
                        reply = {"ok": False, "error": str(exc)}
                    stream.write((json.dumps(reply) + "\n").encode())
                    stream.flush()

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread
            self.sock.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

