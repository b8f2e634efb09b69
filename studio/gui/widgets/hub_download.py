"""Models page: type a Hugging Face repo id, download it into the Hub cache, with progress.

The download (huggingface_hub, resumable) runs off the GUI thread; its progress comes
back through a queued signal. Offline, gated or missing repos end in a plain sentence
(core.hub), shown beside the field.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QWidget

from studio.core import hub
from studio.gui.background import run_in_background


class _Relay(QObject):
    progress = Signal(int, int, str)  # emitted on the download thread, delivered on the GUI thread


class HubDownload(QWidget):
    downloaded = Signal(str)  # the model folder in the Hub cache

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.repo = QLineEdit()
        self.repo.setPlaceholderText("Hugging Face repo id, e.g. HuggingFaceTB/SmolLM2-360M-Instruct")
        self.repo.setToolTip("Downloads config, tokenizer and safetensors weights into the Hugging Face cache "
                             "(resumes an interrupted download). Gated models need `huggingface-cli login`.")
        self.button = QPushButton("Download")
        self.button.clicked.connect(self.start)
        self.repo.returnPressed.connect(self.start)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.hide()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self._relay = _Relay()
        self._relay.progress.connect(self._show_progress)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.repo, 2)
        layout.addWidget(self.button)
        layout.addWidget(self.bar)
        layout.addWidget(self.message, 3)

    def start(self) -> None:
        text = self.repo.text().strip()
        try:
            repo_id = hub.check_repo_id(text)
        except hub.HubError as exc:
            self.message.setText(str(exc))
            return
        self.button.setEnabled(False)
        self.bar.setRange(0, 0)
        self.bar.show()
        self.message.setText(f"Downloading {repo_id}…")
        run_in_background(hub.download_model, repo_id, None, self._relay.progress.emit,
                          on_done=self._done, on_error=self._failed)

    def _show_progress(self, done: int, total: int, _file: str) -> None:
        if total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))

    def _done(self, folder: Path) -> None:
        self.button.setEnabled(True)
        self.bar.hide()
        self.message.setText(f"Downloaded to {folder}.")
        self.downloaded.emit(str(folder))

    def _failed(self, exc: BaseException) -> None:
        self.button.setEnabled(True)
        self.bar.hide()
        self.message.setText(str(exc) if isinstance(exc, hub.HubError) else f"Download failed: {exc}")
