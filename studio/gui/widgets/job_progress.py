"""A long job's progress on one row: what it is doing, a bar, the time left, and Cancel.

Hidden until a job starts; the bar is busy (moving without a value) until the job says
how far it is. Cancel asks once: after a click it waits, disabled, for the job to end.
A job that counts parts (adapters, tensors, bytes) gives its count to ``show_count``,
which works out the time left at the pace since that count began.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from studio.core.throughput import progress_eta_s
from studio.gui.widgets.run_header import duration

BAR_STEPS = 1000


@dataclass
class _Count:
    """One counted stretch of a job: what it counts, when and where the count began."""
    key: str
    started_at: float
    started_done: int


class JobProgress(QWidget):
    cancel_clicked = Signal()

    def __init__(self, cancel_tip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.phase = QLabel()
        self.phase.setWordWrap(True)  # a long adapter name wraps rather than being cut
        self.phase.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(180)
        self.bar.setToolTip("How much of the job is done")
        self.eta = QLabel()
        self.eta.setToolTip("Time left, from the time taken so far")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip(cancel_tip)
        self.cancel.clicked.connect(self._cancel_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.phase, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.eta)
        layout.addWidget(self.cancel)
        self._count: _Count | None = None
        self.hide()

    def start(self, text: str) -> None:
        self.cancel.setEnabled(True)
        self.cancel.setText("Cancel")
        self._count = None
        self.show_progress(text, None, None)
        self.show()

    def show_count(self, text: str, done: int | None, total: int | None, key: str = "",
                   at: float | None = None) -> None:
        """``done`` of ``total`` parts (no total: busy); the time left at the pace since the
        count named ``key`` began (a new key, or a count going back, starts the pace again).
        ``at``: when the job counted that (an event's time), else now."""
        at = time.monotonic() if at is None else at
        if not total or total <= 0:
            self._count = None
            self.show_progress(text, None, None)
            return
        done = min(max(int(done or 0), 0), int(total))
        count = self._count
        if count is None or count.key != key or done < count.started_done:
            count = self._count = _Count(key, at, done)
        eta = progress_eta_s(done - count.started_done, total - count.started_done, at - count.started_at)
        self.show_progress(text, done / total, eta)

    def show_progress(self, text: str, fraction: float | None, eta_s: float | None) -> None:
        self.phase.setText(text)
        self.phase.setToolTip(text)
        if fraction is None:
            self.bar.setRange(0, 0)  # busy: no number yet
        else:
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(round(BAR_STEPS * fraction))
        self.eta.setText(f"{duration(eta_s)} left" if eta_s is not None else "")

    def finish(self) -> None:
        self.hide()

    def _cancel_clicked(self) -> None:
        self.cancel.setEnabled(False)
        self.cancel.setText("Cancelling…")
        self.cancel_clicked.emit()
