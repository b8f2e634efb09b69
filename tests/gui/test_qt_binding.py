"""Guard against a Qt binding that leaks references to None (PySide6 6.12.0 did)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_calls_keep_the_refcount_of_none(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
    # A leaking binding drops exactly one reference per call; allow small noise.
    assert abs(sys.getrefcount(None) - before) < 50
