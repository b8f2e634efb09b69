"""gui.library_reads: the pages' library reads run in the pool, and only the newest answer of
each kind is applied."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QWidget

from studio.core.library import Library
from studio.gui.background import tasks_in_flight
from studio.gui.library_reads import NewestRead


def gui_thread_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where each ``Library()`` from now on is opened: "gui" on the GUI thread, else "pool".
    The real library opens either way; this only records the thread."""
    opened: list[str] = []
    real = Library.__init__

    def recording(self, *args, **kwargs) -> None:
        opened.append("gui" if threading.current_thread() is threading.main_thread() else "pool")
        real(self, *args, **kwargs)

    monkeypatch.setattr(Library, "__init__", recording)
    return opened


def test_an_older_answer_that_comes_last_is_dropped(qtbot):
    owner = QWidget()
    qtbot.addWidget(owner)
    reads = NewestRead(owner)
    applied: list[str] = []
    release = threading.Event()

    def slow() -> str:
        release.wait(60)  # answers only after the newer read has been applied
        return "older"

    reads.run(slow, on_done=applied.append)
    reads.run(lambda: "newer", on_done=applied.append)
    qtbot.waitUntil(lambda: applied == ["newer"], timeout=10_000)
    assert not reads.pending()
    release.set()
    qtbot.waitUntil(lambda: tasks_in_flight() == 0, timeout=10_000)
    assert applied == ["newer"]


def test_an_error_goes_to_its_callback_and_an_answer_after_the_page_closed_is_dropped(qtbot):
    owner = QWidget()
    reads = NewestRead(owner)
    errors: list[BaseException] = []

    def fail() -> None:
        raise OSError("disk gone")

    reads.run(fail, on_done=lambda _r: None, on_error=errors.append)
    assert reads.pending()
    qtbot.waitUntil(lambda: not reads.pending(), timeout=10_000)
    assert [str(e) for e in errors] == ["disk gone"]
    release = threading.Event()
    applied: list[str] = []
    reads.run(lambda: release.wait(60) and "late", on_done=applied.append)
    owner.deleteLater()  # the page closes while its read is in the pool
    qtbot.waitUntil(lambda: not owner_alive(reads), timeout=10_000)
    release.set()
    qtbot.waitUntil(lambda: tasks_in_flight() == 0, timeout=10_000)
    assert applied == []


def owner_alive(reads: NewestRead) -> bool:
    import shiboken6

    return shiboken6.isValid(reads)
