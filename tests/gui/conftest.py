"""GUI test fixtures: offscreen Qt, private settings, and no worker left behind."""

from __future__ import annotations

import gc
import os
import signal
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def private_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Model scans see an empty hub cache, not whatever this machine downloaded."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture(autouse=True)
def drain_background(qtbot):
    """No background task of one test delivers into the next one's widgets, and no widget
    is garbage-collected in a pool thread (Qt crashes there): as in the app (gui.app), the
    automatic collection is off while a test runs, and its garbage goes in the GUI thread."""
    gc.disable()
    yield
    from PySide6.QtCore import QThreadPool

    from studio.gui.background import tasks_in_flight

    QThreadPool.globalInstance().waitForDone(10_000)
    qtbot.waitUntil(lambda: tasks_in_flight() == 0, timeout=10_000)
    gc.collect()
    gc.enable()


@pytest.fixture
def settings(tmp_path: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def state(settings):
    from studio.gui.app_state import AppState

    return AppState(settings)


def shown_page(qtbot, page_class, state, size=(1100, 760)):
    """A page of the app on its own, shown at ``size`` (the tests' usual window)."""
    widget = page_class(state)
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    return widget


@pytest.fixture
def train_page(qtbot, state):
    from studio.gui.pages.train_page import TrainPage

    return shown_page(qtbot, TrainPage, state)


@pytest.fixture
def monitor_page(qtbot, state):
    from studio.gui.pages.monitor_page import MonitorPage

    return shown_page(qtbot, MonitorPage, state)


@pytest.fixture
def window(qtbot, state):
    """The real main window (not reattaching to runs of other tests)."""
    from studio.gui.main_window import MainWindow

    win = MainWindow(state, reattach=False)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.fixture(autouse=True)
def no_worker_left_behind(studio_home: Path):
    """Fail a test that leaves a live worker, after killing it."""
    yield
    from studio.core import runs

    runs_dir = studio_home / "runs"
    leaked = []
    if runs_dir.exists():
        for run in runs_dir.iterdir():
            if run.is_dir() and runs.is_locked(run):
                leaked.append(run.name)
                try:
                    pid = int((run / runs.LOCK_NAME).read_text().strip())
                    os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError):
                    pass
    assert not leaked, f"the test left workers running: {leaked}"
