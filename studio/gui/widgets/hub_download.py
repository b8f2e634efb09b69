"""Models page: type a Hugging Face repo id, download it into the Hub cache, with progress.

The download (huggingface_hub, resumable) runs off the GUI thread; its progress comes
back through a queued signal and shows as the app's one long-job row (files and MB done,
time left, Cancel: widgets.job_progress). Cancel makes the next progress report raise
core.hub's DownloadCancelled; what was fetched stays in the cache, so downloading again
resumes. Offline, gated or missing repos end in a plain sentence (core.hub), shown
beside the field.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from studio.core import hub
from studio.gui.background import run_in_background
from studio.gui.widgets.job_progress import JobProgress

CANCEL_TIP = ("Stop the download. The files fetched so far stay in the Hugging Face cache: downloading this "
              "model again resumes from them.")
CANCELLED = ("Download of {repo} cancelled. The files fetched so far stay in the Hugging Face cache: "
             "Download again to resume.")


class _Relay(QObject):
    progress = Signal(int, int, str)  # emitted on the download thread, delivered on the GUI thread


class HubDownload(QWidget):
    downloaded = Signal(str)  # the model folder in the Hub cache

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fetch: Callable[..., str] | None = None  # huggingface_hub's snapshot_download unless set
        self.repo_id = ""
        self._cancel = threading.Event()
        self.repo = QLineEdit()
        self.repo.setPlaceholderText("Hugging Face repo id, e.g. HuggingFaceTB/SmolLM2-360M-Instruct")
        self.repo.setToolTip("Downloads config, tokenizer and safetensors weights into the Hugging Face cache "
                             "(resumes an interrupted download). Gated models need `huggingface-cli login`.")
        self.button = QPushButton("Download")
        self.button.setToolTip("Download this repo's model files into the Hugging Face cache; it then shows "
                               "in the list above")
        self.button.clicked.connect(self.start)
        self.repo.returnPressed.connect(self.start)
        self.progress = JobProgress(CANCEL_TIP)
        self.progress.cancel_clicked.connect(self.cancel)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self._relay = _Relay()
        self._relay.progress.connect(self._show_progress)
        row = QHBoxLayout()
        row.addWidget(self.repo, 2)
        row.addWidget(self.button)
        row.addWidget(self.message, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.progress)

    def start(self) -> None:
        if self.busy():
            return
        text = self.repo.text().strip()
        try:
            repo_id = hub.check_repo_id(text)
        except hub.HubError as exc:
            self.message.setText(str(exc))
            return
        self.repo_id = repo_id
        self.button.setEnabled(False)
        self.message.setText("")
        self.progress.start(f"Downloading {repo_id}: asking the Hub for its files…")
        cancel = self._cancel = threading.Event()
        relay = self._relay

        def report(done: int, total: int, files: str) -> None:  # on the download's threads
            if cancel.is_set():
                raise hub.DownloadCancelled()
            relay.progress.emit(done, total, files)

        run_in_background(hub.download_model, repo_id, None, report, self.fetch,
                          on_done=self._done, on_error=self._failed)

    def busy(self) -> bool:
        return not self.button.isEnabled()

    def cancel(self) -> None:
        """Ends the download at its next progress report (Cancel, already disabled, waits for it)."""
        self._cancel.set()

    def _show_progress(self, done: int, total: int, files: str) -> None:
        if not self.busy():
            return  # a late report of a download already ended
        line = f"Downloading {self.repo_id}: " + (f"{files} · " if files else "") + sizes(done, total)
        self.progress.show_count(line, done, total, key="bytes")

    def _done(self, folder: Path) -> None:
        self.button.setEnabled(True)
        self.progress.finish()
        self.message.setText(f"Downloaded to {folder}.")
        self.downloaded.emit(str(folder))

    def _failed(self, exc: BaseException) -> None:
        self.button.setEnabled(True)
        self.progress.finish()
        if isinstance(exc, hub.DownloadCancelled):
            self.message.setText(CANCELLED.format(repo=self.repo_id))
        else:
            self.message.setText(str(exc) if isinstance(exc, hub.HubError) else f"Download failed: {exc}")


def sizes(done: int, total: int) -> str:
    """Bytes done of all as "120 / 724 MB", or in GB from a gigabyte on."""
    if total >= 10**9:
        return f"{done / 1e9:.2f} / {total / 1e9:.2f} GB"
    return f"{done / 1e6:.0f} / {total / 1e6:.0f} MB"
