"""The main window: every page is reachable, choices are remembered, no torch."""

from __future__ import annotations

import subprocess
import sys

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
