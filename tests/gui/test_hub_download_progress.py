"""Models page → Download: the app's one long-job row (phase with files and MB, a bar, the time
left, Cancel), driven by a stand-in snapshot_download (tests/hub_support.py: no network)."""

from __future__ import annotations

import re
import socket

import pytest
from hub_support import FakeSnapshot

from studio.gui.widgets.hub_download import CANCEL_TIP, HubDownload


@pytest.fixture
def reachable_hub(monkeypatch):
    """An endpoint that accepts connections, for download_model's reachability check."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        yield


@pytest.fixture
def download(qtbot, reachable_hub):
    widget = HubDownload()
    qtbot.addWidget(widget)
    widget.resize(900, 120)
    widget.show()
    widget.repo.setText("org/tiny")
    return widget


def test_a_download_shows_files_mb_and_time_left_then_hides(download, qtbot):
    fake = download.fetch = FakeSnapshot(hold_before=2)
    row = download.progress
    assert not row.isVisible() and download.button.toolTip()
    download.start()
    assert row.isVisible() and not download.button.isEnabled()
    assert row.cancel.isEnabled() and row.cancel.toolTip() == CANCEL_TIP
    qtbot.waitUntil(lambda: "50 / 100 MB" in row.phase.text(), timeout=10_000)
    assert row.phase.text() == "Downloading org/tiny: 1 of 2 files · 50 / 100 MB"
    assert row.bar.value() == row.bar.maximum() // 2
    assert re.fullmatch(r"\d+:\d\d left", row.eta.text()), row.eta.text()  # two reports: a pace
    fake.gate.set()
    qtbot.waitUntil(lambda: download.button.isEnabled(), timeout=10_000)
    assert not row.isVisible()
    assert download.message.text().startswith("Downloaded to ") and fake.written == 4


def test_cancel_ends_the_download_and_says_it_resumes(download, qtbot):
    fake = download.fetch = FakeSnapshot(hold_before=2)
    folders: list[str] = []
    download.downloaded.connect(folders.append)
    download.start()
    row = download.progress
    qtbot.waitUntil(lambda: "50 / 100 MB" in row.phase.text(), timeout=10_000)
    row.cancel.click()
    assert not row.cancel.isEnabled() and row.cancel.text() == "Cancelling…"
    assert row.isVisible()  # until the download has ended
    fake.gate.set()  # its next report meets the cancel
    qtbot.waitUntil(lambda: download.button.isEnabled(), timeout=10_000)
    assert not row.isVisible() and not folders
    assert fake.written == 2  # nothing after the cancel was written
    assert download.message.text() == ("Download of org/tiny cancelled. The files fetched so far stay in the "
                                       "Hugging Face cache: Download again to resume.")

    fake = download.fetch = FakeSnapshot()  # the next one starts with a fresh Cancel
    download.start()
    assert row.cancel.isEnabled() and row.cancel.text() == "Cancel"
    qtbot.waitUntil(lambda: download.button.isEnabled(), timeout=10_000)
    assert folders and fake.written == 4
