"""Chat with one model, several turns, through the chat template and the warm compare worker."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.core import protocol
from studio.gui.compare_session import sampling_help


class Playground(QWidget):
    def __init__(self, session, base_model, tools=tuple, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.base_model = base_model  # () -> the model.path the compare worker serves
        self.tools = tools  # () -> the tool definitions the chat may call (the Compare page's Tools…)
        self.history: list[dict[str, str]] = []
        self.request: str | None = None
        self._partial = ""
        self.model = QComboBox()
        self.model.setToolTip("Who answers: the base model, or one of the adapters chosen above")
        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional), e.g. You are a helpful pirate.")
        self.system.setToolTip("Sent first in every turn of this chat, as the system message")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setValue(0.7)
        self.temperature.setToolTip(sampling_help("temperature"))
        self.transcript = QTextBrowser()
        self.message = QLineEdit()
        self.message.setPlaceholderText("Say something and press Enter")
        self.message.setToolTip("Your next turn; the model sees the whole chat so far")
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send this turn (Enter); answers stream in as they are written")
        self.clear_button = QPushButton("New chat")
        self.clear_button.setToolTip("Forget this chat and start an empty one")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model, 1)
        top.addWidget(QLabel("Temperature"))
        top.addWidget(self.temperature)
        top.addWidget(self.clear_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.system)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(bottom)
        self.message.returnPressed.connect(self.send)
        self.send_button.clicked.connect(self.send)
        self.clear_button.clicked.connect(self.clear)
        session.token.connect(self._on_token)
        session.ended.connect(self._on_session_end)
        session.refused.connect(self._on_refused)

    def set_models(self, models: list[str]) -> None:
        current = self.model.currentText()
        self.model.clear()
        self.model.addItems(models)
        if current in models:
            self.model.setCurrentText(current)

    def clear(self) -> None:
        self.history, self.request, self._partial = [], None, ""
        self.transcript.clear()

    def send(self, text: str | None = None) -> str | None:
        text = (text if text is not None else self.message.text()).strip()
        if not text or self.request is not None:
            return None
        self.session.ensure(self.base_model())
        self.history.append({"role": "user", "content": text})
        messages = ([{"role": "system", "content": self.system.text().strip()}] if self.system.text().strip() else [])
        self.request = self.session.ask([*messages, *self.history], [self.model.currentText() or "base"],
                                        {"temperature": self.temperature.value(), "max_new_tokens": 256},
                                        self.tools())
        self.message.clear()
        self._partial = ""
        self._render()
        return self.request

    def busy(self) -> bool:
        return self.request is not None

    def _on_token(self, request: str, _model: str, text: str) -> None:
        if request == self.request:
            self._partial += text
            self._render()

    def on_answer(self, event: protocol.Answer) -> None:
        if event.request != self.request:
            return
        self.history.append({"role": "assistant", "content": event.text})
        self.request, self._partial = None, ""
        self._render()

    def _on_refused(self, request: str, why: str) -> None:
        if request == self.request:  # the Compare page says why, in its status line
            self._on_session_end(why)

    def _on_session_end(self, _why: str) -> None:
        """The worker is gone (its load cancelled, or it ended): the turn it owed is dropped."""
        if self.request is None:
            return
        if self.history and self.history[-1]["role"] == "user":
            self.history.pop()
        self.request, self._partial = None, ""
        self._render()

    def _render(self) -> None:
        parts = [f"<p><b>{'You' if m['role'] == 'user' else html.escape(self.model.currentText())}:</b> "
                 f"{html.escape(m['content'])}</p>" for m in self.history]
        if self.request is not None:
            parts.append(f"<p><b>{html.escape(self.model.currentText())}:</b> {html.escape(self._partial)}…</p>")
        self.transcript.setHtml("".join(parts))
