"""A Unix socket that answers JSON command lines, served so no client can block the others.

Anything the user runs may connect to a run's ``control.sock``: the GUI, a second terminal,
a script. Each client gets its own thread, a deadline for each line and a cap on its length;
whatever one client does (go silent, hang up before its reply, send garbage or a line without
end) ends that client only, and is logged. Every line gets one reply line:
``{"ok": true, "cmd": ...}`` or ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from studio.core import protocol

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20  # a generate request carries a whole chat; 1 MiB holds a long context
_SHORT_PATH = 100  # bytes of a socket path that bind() takes whole on every platform (the limit is ~104-108)
MAX_CLIENTS = 16  # the GUI, the CLI and a few scripts at once; more are refused, not queued
LINE_TIMEOUT_S = 5.0  # to send each line (and take its reply); the CLI itself waits 5 s
_CHUNK = 64 * 1024


class CommandServer:
    """Serves ``handle(line) -> command name`` (raising ProtocolError on a bad line) at ``path``."""

    def __init__(self, path: Path, handle: Callable[[bytes], str], *, line_timeout_s: float = LINE_TIMEOUT_S,
                 max_clients: int = MAX_CLIENTS, max_line_bytes: int = MAX_LINE_BYTES):
        self.path = Path(path)
        self.handle = handle
        self.line_timeout_s = line_timeout_s
        self.max_clients = max_clients
        self.max_line_bytes = max_line_bytes
        self.sock: socket.socket | None = None
        self._slots = threading.BoundedSemaphore(max_clients)
        self._applying = threading.Lock()  # commands take effect one at a time, as they arrive
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._closing = threading.Event()

    def start(self) -> CommandServer | None:
        if not hasattr(socket, "AF_UNIX"):
            return None
        sock = self._listen()
        if sock is None:
            return None
        self.sock = sock
        threading.Thread(target=self._accept_loop, args=(sock,), name="control-socket", daemon=True).start()
        return self

    def rebind(self) -> None:
        """Listen again at the same path, whose file was deleted (its run folder with it)."""
        if self.sock is None or self._closing.is_set():
            return
        sock = self._listen()
        if sock is None:
            return
        old, self.sock = self.sock, sock
        threading.Thread(target=self._accept_loop, args=(sock,), name="control-socket", daemon=True).start()
        with contextlib.suppress(OSError):
            old.shutdown(socket.SHUT_RDWR)  # its accept() thread sees it is no longer the socket, and ends
        old.close()

    def _listen(self) -> socket.socket | None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if len(str(self.path)) < _SHORT_PATH:
                sock.bind(str(self.path))
            else:  # socket paths are limited to ~107 bytes and run folders can be longer: bind by a
                # relative name (at start no other thread exists; a rebind's brief chdir is the price)
                cwd = os.getcwd()
                try:
                    os.chdir(self.path.parent)
                    sock.bind(self.path.name)
                finally:
                    os.chdir(cwd)
        except OSError as exc:
            log.warning("no control socket: %s", exc)
            sock.close()
            return None
        with contextlib.suppress(OSError):  # the owner alone may connect, beside the 0700 run folder
            os.chmod(self.path, 0o600)
        sock.listen(socket.SOMAXCONN)  # a burst of clients waits to be accepted (or refused), not EAGAIN
        return sock

    def close(self) -> None:
        if self.sock is None:
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread
        self.sock.close()
        with self._clients_lock:
            for conn in self._clients:  # wakes their threads, which then close them
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept_loop(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError as exc:
                if self._closing.is_set() or sock is not self.sock:
                    return
                log.warning("control socket: accept failed (%s); trying again", exc)
                time.sleep(0.5)  # e.g. out of file descriptors: wait for some to close, don't spin
                continue
            if not self._slots.acquire(blocking=False):
                log.warning("control socket: refused a client (%d already connected)", self.max_clients)
                self._say_and_close(conn, f"busy: {self.max_clients} clients are connected; try again")
                continue
            with self._clients_lock:  # known before close() can look for it
                if self._closing.is_set():
                    conn.close()
                    self._slots.release()
                    return
                self._clients.add(conn)
            try:
                threading.Thread(target=self._serve_client, args=(conn,), name="control-client",
                                 daemon=True).start()
            except Exception:  # e.g. "can't start new thread": lose this client only
                log.exception("control socket: could not serve a client")
                self._forget(conn)

    def _serve_client(self, conn: socket.socket) -> None:
        try:
            self._converse(conn)
        except OSError as exc:  # it hung up, or stopped reading its replies
            log.info("control socket: a client went away: %s", exc)
        except Exception:  # one client's trouble must not reach the others
            log.exception("control socket: a client's connection failed")
        finally:
            self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        with self._clients_lock:
            self._clients.discard(conn)
        conn.close()
        self._slots.release()

    def _converse(self, conn: socket.socket) -> None:
        """Answer each line until the client hangs up, falls silent or sends an over-long line."""
        pending = bytearray()
        deadline = time.monotonic() + self.line_timeout_s
        while True:
            end = pending.find(b"\n")
            if end < 0 and len(pending) <= self.max_line_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.info("control socket: dropped a client silent for %g s", self.line_timeout_s)
                    self._reply(conn, {"ok": False, "error": f"no command line within {self.line_timeout_s:g} s"})
                    return
                conn.settimeout(left)
                try:
                    chunk = conn.recv(_CHUNK)
                except TimeoutError:
                    continue
                if not chunk:
                    if pending:  # a last line without its newline counts, as it always has
                        self._answer(conn, bytes(pending))
                    return
                pending += chunk
            elif end < 0 or end > self.max_line_bytes:
                log.warning("control socket: dropped a client whose line passed %d bytes", self.max_line_bytes)
                self._reply(conn, {"ok": False, "error": f"command line longer than {self.max_line_bytes} bytes"})
                return
            else:
                line = bytes(pending[:end + 1])
                del pending[:end + 1]
                self._answer(conn, line)
                deadline = time.monotonic() + self.line_timeout_s

    def _answer(self, conn: socket.socket, line: bytes) -> None:
        try:
            with self._applying:
                reply = {"ok": True, "cmd": self.handle(line)}
        except protocol.ProtocolError as exc:
            log.warning("control socket: bad command: %s", exc)
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:  # said to the client, and logged, but not fatal
            log.exception("control socket: could not apply %r", line[:200])
            reply = {"ok": False, "error": f"the worker could not apply it: {exc}"}
        self._reply(conn, reply)

    def _reply(self, conn: socket.socket, reply: dict) -> None:
        conn.settimeout(self.line_timeout_s)  # a client that never reads its replies is dropped too
        conn.sendall((json.dumps(reply) + "\n").encode())

    @staticmethod
    def _say_and_close(conn: socket.socket, error: str) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(1.0)
            conn.sendall((json.dumps({"ok": False, "error": error}) + "\n").encode())
