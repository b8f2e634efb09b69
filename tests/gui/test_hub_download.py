"""Models page: a Hub download that can't happen says why, beside the field."""

from __future__ import annotations

from studio.gui.pages.models_page import ModelsPage


def test_offline_and_bad_ids_are_said_beside_the_field(qtbot, state, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    page = ModelsPage(state)
    qtbot.addWidget(page)
    page.show()
    download = page.hub_download
    download.repo.setText("not a repo id")
    download.start()
    assert "not a Hub repo id" in download.message.text() and download.button.isEnabled()
    download.repo.setText("HuggingFaceTB/SmolLM2-360M-Instruct")
    download.start()
    qtbot.waitUntil(lambda: "offline mode is on" in download.message.text(), timeout=10_000)
    assert download.button.isEnabled() and not download.progress.isVisible()
