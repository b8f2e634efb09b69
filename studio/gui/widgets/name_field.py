"""A library name as it will be saved, said while it is typed.

The library keeps folder-safe names (core.library.clean_name): "pirate voice/x" is saved as
``pirate-voice-x``. Renaming used to report the typed name and save the other; here the name
it will be saved under is shown under the box as it is typed, and used in what is reported.
"""

from __future__ import annotations

import html

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from studio.core.library import LibraryError, clean_name


def saved_as(typed: str) -> tuple[str | None, str]:
    """(the name the library will save, a sentence saying so), or (None, why it can't be one)."""
    text = typed.strip()
    if not text:
        return None, "Type a name."
    try:
        name = clean_name(text)
    except LibraryError as exc:
        return None, str(exc)
    if name == text:
        return name, f"Saved as “{name}”."
    return name, f"Saved as “{name}”: only letters, digits, '.', '_' and '-' are kept in a library name."


class NameDialog(QDialog):
    """Ask for a library name, showing the name it will be saved under as it is typed."""

    def __init__(self, title: str, prompt: str, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.edit = QLineEdit(text)
        self.edit.setToolTip("Letters, digits, '.', '_' and '-'; anything else becomes '-'.")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setToolTip(
            "Use the name shown under the box (possible once the text makes a name)")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Close, keeping the name as it is")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        prompt_label = QLabel(prompt)
        prompt_label.setWordWrap(True)
        layout.addWidget(prompt_label)
        layout.addWidget(self.edit)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.edit.textChanged.connect(self._show)
        self._show(text)
        self.setMinimumWidth(420)

    def name(self) -> str | None:
        """The name it will be saved under (None while the text can't be one)."""
        return saved_as(self.edit.text())[0]

    def _show(self, text: str) -> None:
        name, sentence = saved_as(text)
        colour = "" if name is not None else "color:#d64545;"
        self.note.setText(f"<span style='{colour}'>{html.escape(sentence)}</span>")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(name is not None)
