"""The main window: every page is reachable, choices are remembered, no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from studio.gui.main_window import PAGE_NAMES, MainWindow


def test_every_page_is_reachable(window, qtbot):
    for name in PAGE_NAMES:
        window.show_page(name)
        assert window.current_page_name() == name
        assert window.stack.currentWidget() is window.pages[name]


def test_geometry_and_page_are_remembered(qtbot, state):
    first = MainWindow(state, reattach=False)
    qtbot.addWidget(first)
    first.show()
    first.resize(1000, 700)
    first.show_page("Runs")
    size = first.size()
    first.close()
    second = MainWindow(state, reattach=False)
    qtbot.addWidget(second)
    assert second.current_page_name() == "Runs"
    # The offscreen screen is narrower than the window: Qt clamps the width there.
    assert second.height() == size.height() == 700 and second.width() >= second.minimumWidth()


def test_the_gui_never_imports_torch():
    code = ("import sys; from studio.gui.app import create_app; app = create_app(); "
            "from studio.gui.main_window import MainWindow; w = MainWindow(reattach=False); w.show(); "
            "app.processEvents(); bad = {'torch', 'transformers', 'peft'} & set(sys.modules); "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.integration  # runs lora-studio in a subprocess
def test_no_display_says_so_in_one_line():
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "studio"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "no display" in result.stdout and "make demo" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_an_x11_plugin_that_cannot_load_is_named(tmp_path, monkeypatch):
    from studio.gui.app import missing_x11_libraries

    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    broken = tmp_path / "libqxcb.so"
    broken.write_bytes(b"not a shared library")
    assert str(broken) in (missing_x11_libraries(broken) or "")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # no X11 in use: nothing to check
    assert missing_x11_libraries(broken) is None


def test_clicking_a_checkpoint_marker_adds_it_to_compare(window, tmp_path):
    from library_support import make_adapter
    from PySide6.QtCore import QPointF

    from studio.core import protocol

    folder = make_adapter(tmp_path / "run" / "checkpoints" / "checkpoint-20")
    gone = tmp_path / "run" / "checkpoints" / "checkpoint-10"
    view = window.runs_page.view
    view.reset(tmp_path / "run", live=False)
    view.add_events([protocol.Step(step=s, total_steps=30, epoch=0.1, loss=2.0 - s / 30, lr=1e-4)
                     for s in range(1, 25)] + [protocol.Checkpoint(step=10, path=str(gone)),
                                               protocol.Checkpoint(step=20, path=str(folder))])

    class Point:
        def __init__(self, x: float):
            self._x = x

        def pos(self) -> QPointF:
            return QPointF(self._x, 1.0)

    assert view.open_checkpoint([Point(11.0)]) is None  # rotated away: said in the log, nothing opened
    marker = view.charts.loss.curves["checkpoint"]
    marker.sigPointsClicked.emit(marker, [Point(19.6)], None)  # what pyqtgraph sends on a click
    assert window.current_page_name() == "Compare"
    assert window.compare_page.adapters() == [str(folder)]
