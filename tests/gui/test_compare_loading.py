"""Compare / Playground: the first prompt waits for the serve worker to load the model. The
wait shows as the app's long-job row ("Loading <model>…", a busy bar, Cancel), and Cancel
ends the worker and drops the prompts waiting for it (issue 21)."""

from __future__ import annotations

import pytest

from studio.core import protocol, runs
from studio.gui.compare_session import LOAD_CANCEL_TIP, CompareSession, loading_row
from studio.gui.pages.compare_page import ComparePage
from studio.worker.control_socket import MAX_LINE_BYTES


def test_a_gguf_conversion_fills_the_row_then_ready_hides_it(qtbot):
    session = CompareSession()
    row = loading_row(session)
    qtbot.addWidget(row)
    session.base = "/models/tiny.gguf"
    session.loading_started.emit(f"Loading {session.model_name()}…")
    assert not row.isHidden() and row.phase.text() == "Loading tiny.gguf…" and row.bar.maximum() == 0
    assert row.cancel.isEnabled() and row.cancel.toolTip() == LOAD_CANCEL_TIP
    session._on_events([
        protocol.Phase("loading_model", detail="/models/tiny.gguf", t=100.0),
        protocol.Phase("loading_model", done=0, total=12, detail="converting tiny.gguf once", t=101.0),
        protocol.Phase("loading_model", done=3, total=12, detail="converting tiny.gguf once", t=107.0)])
    assert row.phase.text() == "Loading tiny.gguf… converting tiny.gguf once"
    assert row.bar.value() == row.bar.maximum() // 4 and row.eta.text() == "0:18 left"  # 3 in 6 s: 9 in 18
    session._on_events([protocol.Phase("ready", detail="base", t=110.0)])
    assert row.isHidden() and session.is_ready
    session.base = "bundled"
    assert session.model_name() == "the bundled model"


@pytest.fixture
def page(qtbot, state, tiny_model_dir, studio_home):
    state.job.model.path = str(tiny_model_dir)  # the base alone
    widget = ComparePage(state)
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    qtbot.waitUntil(lambda: not widget.looking_up(), timeout=10_000)
    widget.set_adapters([])
    widget.max_tokens.setValue(8)
    yield widget
    widget.shutdown()
    qtbot.waitUntil(lambda: not any(runs.is_locked(p) for p in (studio_home / "runs").iterdir()), timeout=60_000)


@pytest.mark.integration
def test_the_first_prompt_shows_the_load_then_answers(page, qtbot, tiny_model_dir):
    row = page.load_bar
    assert row.isHidden()
    assert page.ask("Who are you?")
    assert row.isVisible() and row.phase.text() == f"Loading {tiny_model_dir.name}…" and row.bar.maximum() == 0
    assert row.cancel.isEnabled()
    qtbot.waitUntil(lambda: not page.busy(), timeout=120_000)
    assert row.isHidden() and page.columns[0].text()
    assert page.ask("And again?")  # warm: no load to wait for
    assert row.isHidden()
    qtbot.waitUntil(lambda: not page.busy(), timeout=60_000)


@pytest.mark.integration
def test_cancel_stops_the_worker_and_drops_the_waiting_prompts(page, qtbot, tiny_model_dir):
    row = page.load_bar
    assert page.ask("Who are you?")
    assert page.playground.send("Hello") is not None  # a second prompt waits for the same load
    run_dir = page.session.run_dir
    row.cancel.click()  # in the worker's first second: held until it listens
    assert not row.cancel.isEnabled() and row.cancel.text() == "Cancelling…"
    qtbot.waitUntil(lambda: page.session.run_dir is None, timeout=60_000)
    assert run_dir is not None and runs.summarize(run_dir).status == "cancelled"
    assert row.isHidden()
    assert page.status.lines() == [f"Stopped loading {tiny_model_dir.name}; the prompts waiting for it were "
                                   "dropped."]
    assert not page.busy() and page.ask_button.isEnabled() and not page.columns[0].text()
    assert not page.playground.busy() and page.playground.history == []

    assert page.playground.send("Hello again")  # the next prompt loads it afresh, with a fresh Cancel
    assert row.isVisible() and row.cancel.isEnabled() and row.cancel.text() == "Cancel"
    qtbot.waitUntil(lambda: not page.playground.busy(), timeout=120_000)
    assert row.isHidden() and [m["role"] for m in page.playground.history] == ["user", "assistant"]


@pytest.mark.integration
def test_a_prompt_the_worker_refuses_is_said_and_ends_the_wait(page, qtbot):
    """Over the control socket's line cap (worker.control_socket): the worker answers ok: false
    and no answer will ever come, so the page must not wait for one."""
    assert page.ask("Who are you?")
    qtbot.waitUntil(lambda: not page.busy(), timeout=120_000)  # loaded
    assert page.ask("x" * (MAX_LINE_BYTES + 10))
    qtbot.waitUntil(lambda: not page.busy(), timeout=30_000)
    assert page.ask_button.isEnabled()
    # the worker's "longer than" reply, or the hang-up that cut the prompt's sending short
    assert any("The prompt was not taken" in line for line in page.status.lines()), page.status.lines()
