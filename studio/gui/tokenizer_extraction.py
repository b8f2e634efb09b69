"""Extract a .gguf model's tokenizer in a child process, so the Datasets page can count tokens.

The GUI process never imports transformers (nor torch); ``studio.engine.gguf_tokenizer`` does
it in its own process (seconds) and writes the tokenizer.json where ``dataset_analysis``
looks. One extraction per file at a time; a failure is said once, not retried in a loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal


class TokenizerExtraction(QObject):
    finished = Signal(str, str)  # the .gguf path, and "" or why it failed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._running: dict[str, QProcess] = {}
        self.failed: dict[str, str] = {}  # path -> why: not tried again this session

    def start(self, gguf: Path) -> bool:
        """Start extracting ``gguf``'s tokenizer; False when it runs already or failed before."""
        key = str(gguf)
        if key in self._running or key in self.failed:
            return False
        process = QProcess(self)
        process.setProgram(sys.executable)
        process.setArguments(["-m", "studio.engine.gguf_tokenizer", key])
        process.finished.connect(lambda code, _status: self._done(key, process, code))
        process.errorOccurred.connect(lambda _error: self._done(key, process, -1))
        self._running[key] = process
        process.start()
        return True

    def running(self) -> bool:
        return bool(self._running)

    def wait(self, ms: int = 30_000) -> None:
        """Block until every extraction ended (the window closing; tests)."""
        for process in list(self._running.values()):
            process.waitForFinished(ms)

    def _done(self, key: str, process: QProcess, code: int) -> None:
        if self._running.pop(key, None) is None:
            return  # errorOccurred and finished both came
        try:
            said = bytes(process.readAllStandardError().data()).decode("utf-8", "replace").strip().splitlines()
            process.deleteLater()
        except RuntimeError:  # the page went away first and took its process along: nobody to tell
            return
        error = ""
        if code != 0:
            error = said[-1] if said else f"the tokenizer extraction ended with code {code}"
            self.failed[key] = error
        self.finished.emit(key, error)
