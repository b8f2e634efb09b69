"""Send a command to a running worker through its run folder's ``control.sock``.

Used by the CLI and GUI to stop, pause or checkpoint a run they did not start
(or whose window was closed and reopened).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from studio.core import protocol, runs

SOCKET_NAME = "control.sock"
_MAX_SOCKET_PATH = 100  # AF_UNIX paths are capped near 107 bytes


def send_command(run_dir: Path, cmd: str, timeout_s: float = 5.0, **payload) -> dict:
    """Returns the worker's reply, e.g. ``{"ok": true, "cmd": "stop"}``; raises OSError
    when no worker listens (it has finished, or died)."""
    path = Path(run_dir) / SOCKET_NAME
    line = protocol.encode_command(cmd, **payload).encode()  # validates the name first
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        if len(str(path)) < _MAX_SOCKET_PATH:
            sock.connect(str(path))
        else:
            cwd = os.getcwd()
            try:
                os.chdir(path.parent)
                sock.connect(path.name)
            finally:
                os.chdir(cwd)
        try:
            sock.sendall(line)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a busy worker answers and hangs up at once; its reply is already ours to read
        reply = sock.makefile("rb").readline()
    if not reply:
        raise ConnectionError(f"the worker of {run_dir} closed the connection without a reply")
    return json.loads(reply)


def cancel(run_dir: Path, timeout_s: float = 5.0, wait_s: float = 25.0, reason: str = "") -> bool:
    """Tell a run's worker to cancel; True once it has. A worker cancels at once, often before
    its reply is written, so a connection closed without one is followed to the run's end.
    ``reason``: what the run's events say instead of "cancelled by the user" (a sweep's prune)."""
    try:
        payload = {"reason": reason} if reason else {}
        return bool(send_command(run_dir, "cancel", timeout_s=timeout_s, **payload).get("ok"))
    except (FileNotFoundError, ConnectionRefusedError):
        return False  # nobody listens: not started yet, or gone
    except OSError:
        return ended_cancelled(run_dir, wait_s)


def ended_cancelled(run_dir: Path, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if runs.summarize(run_dir).status == "cancelled":
            return True
        time.sleep(0.1)
    return False
