"""At the smallest window (960x640), light and dark, every visible one-line label shows its whole
text, or elides it ("…") with the whole text in its tooltip, and every button, check box and group
title has the width its words need: nothing is cut off silently.

test_ui_scale runs this file again at 200% (QT_SCALE_FACTOR=2, as Settings' UI scale sets it)."""

from __future__ import annotations

import contextlib
import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QGroupBox, QLabel, QScrollArea

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


def cut_controls(page) -> list[str]:
    """Buttons and check boxes given less width than their text and box need, and group boxes
    narrower than their title: squeezed, Qt cuts their words without a mark."""
    cut = []
    for button in page.findChildren(QAbstractButton):
        if button.isVisibleTo(page) and button.text().strip() and button.sizeHint().width() > button.width() + 1:
            cut.append(f"{type(page).__name__}: {type(button).__name__} {button.text()!r} needs "
                       f"{button.sizeHint().width()} px, has {button.width()}")
    for group in page.findChildren(QGroupBox):
        needed = group.fontMetrics().horizontalAdvance(group.title()) + 16
        if group.isVisibleTo(page) and group.title() and needed > group.width():
            cut.append(f"{type(page).__name__}: group {group.title()!r} needs {needed} px, has {group.width()}")
    return cut


def settled_cut_labels(qtbot, page) -> list[str]:
    """``cut_labels`` once the page has settled: a label whose text a background load has just
    set (the Runs count) is laid out a few turns of the event loop later. A real cut stays."""
    with contextlib.suppress(qtbot.TimeoutError):
        qtbot.waitUntil(lambda: not cut_labels(page), timeout=2000)
    return cut_labels(page)


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
    if "QT_SCALE_FACTOR" in os.environ:  # test_ui_scale's run: the size is in logical pixels, the screen
        assert window.devicePixelRatio() == float(os.environ["QT_SCALE_FACTOR"])  # gets that many times them
    cut = []
    for name in PAGE_NAMES:
        window.show_page(name)
        qtbot.wait(50)
        cut.extend(settled_cut_labels(qtbot, window.pages[name]))
        cut.extend(cut_controls(window.pages[name]))
    assert not cut, "\n".join(cut)
