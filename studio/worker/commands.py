"""Where commands reach the worker: stdin, a Unix socket in the run folder, signals.

All three feed the same :class:`JobControl`. The socket lets a GUI started later
(or a second terminal) stop or pause a run it did not launch.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from studio.core import protocol
from studio.core.control_client import SOCKET_NAME
from studio.engine.control import JobControl
from studio.worker.control_socket import CommandServer

log = logging.getLogger(__name__)


def apply(line: str | bytes, control: JobControl, on_cancel: Callable[[str], None]) -> str:
    cmd = protocol.decode_command(line)
    log.info("command: %s", cmd)
    if cmd == "generate":
        control.submit(protocol.decode_request(line))
        return cmd
    control.request(cmd)
    if cmd == "cancel":
        on_cancel(protocol.cancel_reason(line))
    return cmd


def read_stdin(control: JobControl, on_cancel: Callable[[str], None]) -> threading.Thread:
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


class ControlSocket(CommandServer):
    """The run folder's ``control.sock``: the same commands as stdin, for a GUI or terminal
    that did not start the run (served as control_socket.py says)."""

    def __init__(self, run_dir: Path, control: JobControl, on_cancel: Callable[[str], None]):
        super().__init__(Path(run_dir) / SOCKET_NAME, lambda line: apply(line, control, on_cancel))
        self.control = control
        self.on_cancel = on_cancel
