"""core.hub.download_model: what it reports while downloading, and a progress callback that
raises DownloadCancelled ends the download (no network: a stand-in snapshot_download)."""

from __future__ import annotations

import socket

import pytest
from hub_support import FakeSnapshot

from studio.core import hub


@pytest.fixture
def reachable_hub(monkeypatch, tmp_path):
    """An endpoint that accepts connections (the reachability check), and a private cache."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        yield


def test_progress_is_bytes_written_of_the_files_sizes_and_files_done(reachable_hub):
    reports: list[tuple[int, int, str]] = []
    folder = hub.download_model("org/tiny", progress=lambda *r: reports.append(r), fetch=FakeSnapshot())
    assert (folder / "config.json").exists()
    assert reports == [(n * 25_000_000, 100_000_000, "1 of 2 files") for n in (1, 2, 3, 4)]


def test_a_cancel_from_the_progress_callback_stops_the_download(reachable_hub):
    fake = FakeSnapshot()

    def progress(done: int, _total: int, _files: str) -> None:
        if done >= 50_000_000:
            raise hub.DownloadCancelled()

    with pytest.raises(hub.DownloadCancelled):
        hub.download_model("org/tiny", progress=progress, fetch=fake)
    assert fake.written == 1  # the chunk reported at 50 MB never counted as written


def test_a_download_thread_failing_after_a_cancel_is_still_a_cancel(reachable_hub):
    """Another download thread may end with its own error once the cancel is under way
    (a Xet transfer whose session was aborted): the user asked to cancel, so it is one."""
    def fetch(repo_id, tqdm_class=None, **_kwargs):
        written = tqdm_class(total=100, unit="B", desc="Reconstructing")
        try:
            written.update(10)
        except hub.DownloadCancelled:
            pass  # swallowed, as Xet's Rust threads do with a callback's error
        raise OSError("the transfer was aborted")

    def progress(*_report) -> None:
        raise hub.DownloadCancelled()

    with pytest.raises(hub.DownloadCancelled):
        hub.download_model("org/tiny", progress=progress, fetch=fetch)
