"""Compare page with a real warm worker and real adapters trained here on the tiny model."""

from __future__ import annotations

import pytest
from library_support import cli_train

from studio.core import runs
from studio.gui.pages.compare_page import ComparePage

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)

LONG = 180_000


@pytest.fixture
def page(qtbot, state, tiny_model_dir, studio_home):
    for seed in (1, 2):
        cli_train(tiny_model_dir, seed, steps=12, rows=48)
    state.set_dataset("bundled")
    widget = ComparePage(state)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    yield widget
    widget.shutdown()
    qtbot.waitUntil(lambda: not any(runs.is_locked(p) for p in (studio_home / "runs").iterdir()), timeout=60_000)


@pytest.mark.slow
def test_side_by_side_blind_eval_report_and_playground(page, qtbot, tiny_model_dir):
    page.set_adapters(["pirate/v1", "pirate/v2"])
    qtbot.waitUntil(lambda: not page.looking_up(), timeout=10_000)
    assert page.models() == ["base", "pirate/v1", "pirate/v2"]
    assert page.base_model() == str(tiny_model_dir)
    assert page.diff_table.rowCount() >= 1  # the seeds differ at least
    page.temperature.setValue(0.0)
    page.max_tokens.setValue(16)
    assert page.ask("Who are you?")
    qtbot.waitUntil(lambda: not page.busy(), timeout=LONG)
    texts = {c.model: c.text() for c in page.columns if c.isVisible()}
    assert set(texts) == {"base", "pirate/v1", "pirate/v2"} and all(texts.values())
    assert texts["pirate/v1"] != texts["base"]
    assert len(page.comparison.answers) == 3

    page.blind.setChecked(True)  # warm now: the same worker answers again
    assert page.ask("Who are you?")
    titles = [c.title() for c in page.columns if c.isVisible()]
    assert titles == ["Answer A", "Answer B", "Answer C"]
    qtbot.waitUntil(lambda: not page.busy(), timeout=60_000)
    winner = next(c for c in page.columns if c.isVisible())
    assert winner.vote.isEnabled()
    winner.vote.click()
    assert page.tally == {winner.model: 1} and winner.model in winner.title()

    page.evaluate()
    qtbot.waitUntil(lambda: not page.evaluating(), timeout=LONG)
    assert page.metrics.rowCount() == 3, page.status.text()
    highlighted = [page.metrics.item(r, 2).toolTip() for r in range(3)]
    assert highlighted.count("best in this column") == 1

    report = page.save_report()
    text = report.read_text()
    assert "## Answers" in text and "## Metrics" in text and "## Blind A/B" in text and "pirate/v2" in text

    page.playground.model.setCurrentText("pirate/v1")
    page.set_tools(({"type": "function", "function": {"name": "get_weather", "parameters": {}}},))
    assert page.playground.send("Hello there")  # a request with tools is answered like any other
    qtbot.waitUntil(lambda: not page.playground.busy(), timeout=60_000)
    assert page.playground.send("And who are you?")
    qtbot.waitUntil(lambda: not page.playground.busy(), timeout=60_000)
    assert [m["role"] for m in page.playground.history] == ["user", "assistant", "user", "assistant"]


def test_typing_an_adapter_looks_it_up_once_off_the_gui_thread(qtbot, state, studio_home, monkeypatch):
    """Each keystroke in an adapter box once opened the library on the GUI thread; now the
    lookup waits for the typing to pause and runs in the thread pool."""
    import threading

    from studio.gui.pages import compare_page

    calls = []
    real = compare_page.look_up

    def counted(adapters, fallback):
        calls.append((list(adapters), threading.current_thread() is threading.main_thread()))
        return real(adapters, fallback)

    monkeypatch.setattr(compare_page, "look_up", counted)
    page = ComparePage(state)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: not page.looking_up(), timeout=10_000)
    page.slots[0].lineEdit().clear()
    qtbot.waitUntil(lambda: not page.looking_up(), timeout=10_000)
    calls.clear()
    qtbot.keyClicks(page.slots[0].lineEdit(), "pirate/v9")
    qtbot.waitUntil(lambda: not page.looking_up(), timeout=10_000)
    assert calls == [(["pirate/v9"], False)]  # one lookup for nine keystrokes, in a pool thread
    assert page.base_label.text().endswith(f"<b>{compare_page.Path(state.job.model.path).name}</b>")
    page.shutdown()
