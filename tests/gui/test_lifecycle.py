"""A run outlives its window: closing asks, a new window reattaches and controls it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core import runs
from studio.core.job_schema import job_from_dict
from studio.gui.main_window import MainWindow
from studio.gui.run_launcher import start_run

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)


def long_job(model_dir: Path):
    return job_from_dict({
        "model": {"path": str(model_dir)},
        "dataset": {"path": "bundled", "max_rows": 48},
        "lora": {"r": 8, "alpha": 16},
        "training": {"max_steps": 400, "batch_size": 4, "learning_rate": 1e-2, "max_length": 96, "device": "cpu"},
    })


def answer_close_dialog(button_text: str) -> None:
    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, click)
            return
        for button in box.buttons():
            if button.text().replace("&", "") == button_text:
                button.click()
                return
    QTimer.singleShot(50, click)


def steps_seen(run_dir: Path) -> int:
    return runs.summarize(run_dir).step


def test_keep_running_then_reattach_and_stop(qtbot, state, tiny_model_dir):
    first = MainWindow(state, reattach=False)
    qtbot.addWidget(first)
    first.show()
    run_dir = start_run(long_job(tiny_model_dir))
    state.run_started.emit(str(run_dir))
    assert first.current_page_name() == "Monitor"
    qtbot.waitUntil(lambda: steps_seen(run_dir) >= 2, timeout=60_000)
    assert first.monitor_page.active_run() == run_dir

    answer_close_dialog("Keep running")
    assert first.close()
    seen = steps_seen(run_dir)
    qtbot.waitUntil(lambda: steps_seen(run_dir) > seen + 2, timeout=30_000)  # trains on, windowless
    assert runs.is_locked(run_dir)

    second = MainWindow(state, reattach=True)
    qtbot.addWidget(second)
    second.show()
    assert second.current_page_name() == "Monitor"
    assert second.monitor_page.active_run() == run_dir
    second.monitor_page.stop_run()
    qtbot.waitUntil(lambda: not runs.is_locked(run_dir), timeout=60_000)
    assert runs.summarize(run_dir).status == "stopped"
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()
    qtbot.waitUntil(lambda: second.monitor_page.active_run() is None, timeout=10_000)


def test_close_with_stop_saves_the_run(qtbot, state, tiny_model_dir):
    window = MainWindow(state, reattach=False)
    qtbot.addWidget(window)
    window.show()
    run_dir = start_run(long_job(tiny_model_dir))
    state.run_started.emit(str(run_dir))
    qtbot.waitUntil(lambda: steps_seen(run_dir) >= 1, timeout=60_000)
    qtbot.waitUntil(lambda: window.monitor_page.active_run() == run_dir, timeout=10_000)
    answer_close_dialog("Stop and save")
    assert window.close()
    qtbot.waitUntil(lambda: not runs.is_locked(run_dir), timeout=60_000)
    assert runs.summarize(run_dir).status == "stopped"


def test_cancel_in_the_dialog_keeps_the_window_open(qtbot, state, tiny_model_dir):
    window = MainWindow(state, reattach=False)
    qtbot.addWidget(window)
    window.show()
    run_dir = start_run(long_job(tiny_model_dir))
    state.run_started.emit(str(run_dir))
    qtbot.waitUntil(lambda: window.monitor_page.active_run() == run_dir, timeout=60_000)
    qtbot.waitUntil(lambda: steps_seen(run_dir) >= 1, timeout=60_000)
    answer_close_dialog("Cancel")
    assert not window.close()
    assert window.isVisible()
    window.monitor_page.cancel_run(confirm=False)
    qtbot.waitUntil(lambda: not runs.is_locked(run_dir), timeout=60_000)
    qtbot.waitUntil(lambda: window.monitor_page.active_run() is None, timeout=10_000)
