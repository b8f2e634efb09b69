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
