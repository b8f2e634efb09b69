"""One training example as the model will see it, with the tokens it learns from highlighted.

"Train on responses" is easy to get wrong (a template that hides the assistant turn,
a completion file read as plain text); seeing the highlighted span makes it obvious
before a run starts. The page supplies a function that splits example *i* into
(text, counts toward the loss) pieces; this widget draws them and picks *i*.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QTextEdit, QVBoxLayout, QWidget

Segments = list[tuple[str, bool]]
SegmentSource = Callable[[int], tuple[str, Segments]]  # index -> (where it came from, pieces)


class ExampleView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        dark = self.palette().color(QPalette.ColorRole.Base).lightness() < 128
        self.highlight = QColor("#2e5e3a" if dark else "#c9ecd0")
        self._source: SegmentSource | None = None
        self.segments: Segments = []
        self.spin = QSpinBox()
        self.spin.setToolTip("Which example to show (1 = the first good row of the file)")
        self.spin.setRange(0, 0)
        self.spin.setMinimumWidth(80)
        self.spin.valueChanged.connect(self._show_current)
        self.where_label = QLabel()
        self.where_label.setToolTip("Where this example is in the file")
        legend = QLabel(f"<span style='background-color:{self.highlight.name()}'>&nbsp;highlighted&nbsp;</span>"
                        " = counts toward the loss")
        legend.setToolTip("With train_on = responses only the assistant's replies are learned; "
                          "the rest is context the model reads but is not graded on")
        self.template_label = QLabel()
        self.template_label.setToolTip("The chat template used to render the example")
        self.template_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.template_label.setWordWrap(True)
        self.text = QTextEdit()
        self.text.setReadOnly(True)
        self.text.setToolTip("The example rendered through the model's chat template, special tokens included")
        top = QHBoxLayout()
        top.addWidget(QLabel("Example"))
        top.addWidget(self.spin)
        top.addWidget(self.where_label)
        top.addStretch(1)
        top.addWidget(legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.template_label)
        self.clear("No dataset loaded.")

    def clear(self, message: str) -> None:
        self._source = None
        self.segments = []
        self.spin.blockSignals(True)
        self.spin.setRange(0, 0)
        self.spin.setSuffix("")
        self.spin.blockSignals(False)
        self.spin.setEnabled(False)
        self.where_label.setText("")
        self.template_label.setText("")
        self.text.setHtml(f"<p><i>{html.escape(message)}</i></p>")

    def set_source(self, count: int, source: SegmentSource, template_note: str = "") -> None:
        """Show example 1..count; ``source(i)`` splits the i-th (0-based) into pieces."""
        if count <= 0:
            self.clear("No usable example.")
            return
        current = self.spin.value() if self._source is not None else 1
        self._source = source
        self.template_label.setText(template_note)
        self.spin.blockSignals(True)
        self.spin.setRange(1, count)
        self.spin.setValue(min(max(current, 1), count))
        self.spin.blockSignals(False)
        self.spin.setEnabled(True)
        self.spin.setSuffix(f" of {count}")
        self._show_current()

    def _show_current(self) -> None:
        if self._source is None:
            return
        try:
            where, self.segments = self._source(self.spin.value() - 1)
        except Exception as exc:  # noqa: BLE001 - a template that refuses this row: say so, keep the page alive
            self.segments = []
            self.where_label.setText("")
            self.text.setHtml(f"<p><b>The chat template cannot render this example:</b> {html.escape(str(exc))}</p>")
            return
        self.where_label.setText(where)
        spans = []
        for piece, trained in self.segments:
            escaped = html.escape(piece)
            spans.append(f"<span style='background-color:{self.highlight.name()}'>{escaped}</span>"
                         if trained else escaped)
        self.text.setHtml("<pre style='white-space: pre-wrap; margin: 0'>" + "".join(spans) + "</pre>")

    def highlighted_text(self) -> list[str]:
        """The text of every highlighted run as the document shows it (what tests check)."""
        runs: list[str] = []
        block = self.text.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                if fragment.charFormat().background().color() == self.highlight:
                    runs.append(fragment.text())
                it += 1
            block = block.next()
        return runs
