"""At the smallest window (960x640), light and dark, every visible one-line label shows its whole
text, or elides it ("…") with the whole text in its tooltip: nothing is cut off silently."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QScrollArea

from studio.gui import theme
from studio.gui.main_window import PAGE_NAMES

SMALLEST = (960, 640)


def cut_labels(page) -> list[str]:
    """Labels of ``page`` whose one line is wider than the label and not elided with a tooltip."""
    cut = []
    for label in page.findChildren(QLabel):
        if not label.isVisibleTo(page) or label.wordWrap() or not label.text().strip():
            continue
        if any(isinstance(p, QScrollArea) for p in _parents(label, page)) and label.width() == 0:
            continue
        text = label.text()
        if label.textFormat() == Qt.TextFormat.RichText or (label.textFormat() == Qt.TextFormat.AutoText and "<" in text):
            document_width = _rich_width(label)
        else:
            document_width = max(label.fontMetrics().horizontalAdvance(line) for line in text.splitlines())
        if document_width <= label.contentsRect().width() - 2 * label.margin() + 1:
            continue
        if text.endswith("…") and label.toolTip():
            continue
        cut.append(f"{type(page).__name__}: {text!r} needs {document_width} px, has {label.contentsRect().width()}")
    return cut


def _parents(widget, stop):
    parent = widget.parentWidget()
    while parent is not None and parent is not stop:
        yield parent
        parent = parent.parentWidget()


def _rich_width(label: QLabel) -> int:
    from PySide6.QtGui import QTextDocument

    document = QTextDocument()
    document.setDefaultFont(label.font())
    document.setHtml(label.text())
    document.setDocumentMargin(0)
    return int(document.idealWidth())


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_nothing_is_cut_off_at_the_smallest_window(qtbot, window, dark):
    theme.apply(QApplication.instance(), dark=dark)
    window.resize(*SMALLEST)
    cut = []
    for name in PAGE_NAMES:
        window.show_page(name)
        qtbot.wait(50)
        cut.extend(cut_labels(window.pages[name]))
    assert not cut, "\n".join(cut)
