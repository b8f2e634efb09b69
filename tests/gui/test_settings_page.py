"""Settings: the system check runs off the GUI thread and shows every check with its fix."""

from __future__ import annotations

from studio.core import settings as user_settings
from studio.gui.pages.settings_page import SettingsPage


def test_the_system_check_fills_the_table_and_preferences_are_kept(qtbot, state):
    page = SettingsPage(state)
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()  # the first show starts the check
    qtbot.waitUntil(lambda: page.table.rowCount() >= 8, timeout=60_000)
    rows = {page.table.item(r, 0).text(): page.table.item(r, 1).text() for r in range(page.table.rowCount())}
    assert rows["Python"] == "ok" and rows["torch"] == "ok" and rows["Bundled model"] == "ok"
    assert page.again.isEnabled() and page.summary.text()
    page.grab().save("/tmp/settings_doctor.png")
    page.hang_timeout.setValue(120)
    assert state.settings.hang_timeout_s == 120.0
    qtbot.waitUntil(lambda: user_settings.load().hang_timeout_s == 120.0, timeout=2000)  # written after a pause


def test_the_ui_scale_is_kept_and_applies_at_the_next_start(qtbot, state, studio_home):
    import json
    import os
    import subprocess
    import sys

    page = SettingsPage(state)
    qtbot.addWidget(page)
    page.scale_box.setCurrentIndex(page.scale_box.findData(2.0))
    assert state.settings.ui_scale == 2.0 and page.scale_note.text() == "applies at the next start"
    qtbot.waitUntil(lambda: user_settings.load().ui_scale == 2.0, timeout=5000)
    started = subprocess.run(
        [sys.executable, "-c", "from studio.gui.app import create_app; import os; app = create_app(); "
                               "print(os.environ.get('QT_SCALE_FACTOR'), app.primaryScreen().devicePixelRatio())"],
        capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "QT_SCALE_FACTOR"} | {"QT_QPA_PLATFORM": "offscreen"})
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["2", "2.0"]
    assert json.loads((studio_home / "settings.json").read_text())["ui_scale"] == 2.0
