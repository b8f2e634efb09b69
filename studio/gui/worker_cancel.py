"""Cancel a worker the window started, also in its first seconds, before it listens.

A worker opens its control socket just before its ``hello`` event, so a Cancel clicked
earlier is held and sent when that event is read. A cancelled worker exits before it
replies: a connection closed without a reply counts as delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from studio.core import control_client, protocol


class WorkerCancel:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.listening = False  # the worker said hello: its socket is up
        self.wanted = False
        self.sent = False

    def request(self) -> str | None:
        """Cancel now, or as soon as the worker listens; what went wrong, else None."""
        self.wanted = True
        return self._send() if self.listening else None

    def seen(self, events: Iterable[protocol.Event]) -> str | None:
        """Read the worker's events; a held cancel goes out at its hello. What went wrong, else None."""
        if not self.listening and any(isinstance(e, protocol.Hello) for e in events):
            self.listening = True
            if self.wanted:
                return self._send()
        return None

    def _send(self) -> str | None:
        if self.sent:
            return None
        try:
            reply = control_client.send_command(self.run_dir, "cancel", timeout_s=2.0)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            return f"the worker is not listening ({exc.strerror or exc})"
        except ConnectionError:  # it exited before answering: how a cancel usually ends
            self.sent = True
            return None
        except (OSError, ValueError) as exc:
            return f"the worker did not answer ({exc})"
        self.sent = True
        return None if reply.get("ok") else str(reply.get("error", "refused"))
