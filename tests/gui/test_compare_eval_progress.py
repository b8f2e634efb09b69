"""Compare → "Evaluate on the dataset" shows where it is and can be cancelled (issue 21: it ran
9.3 minutes behind a static "Evaluating on …" line, though the worker reported "1 of 3")."""

from __future__ import annotations

import pytest

from studio.core import protocol, runs
from studio.gui.eval_progress import EvalProgress
from studio.gui.pages.compare_page import ComparePage


def phase(name: str, done: int | None = None, total: int | None = None, detail: str | None = None) -> protocol.Phase:
    return protocol.Phase(name, done=done, total=total, detail=detail)


def test_progress_reads_model_n_of_all_and_how_far_into_it():
    progress = EvalProgress()
    assert progress.text() == "Loading the model and adapters…" and progress.fraction() is None
    progress.add([protocol.Hello(pid=1), phase("preparing_data", detail="bundled")])
    assert progress.text() == "Preparing the dataset…" and progress.eta_s() is None
    progress.add([phase("evaluating", 0, 3, "base"), phase("scoring", 5, 10, "base")])
    assert progress.text() == "Model 1 of 3: base · loss 5 / 10 batches"
    assert progress.fraction() == pytest.approx(0.25 / 3)
    progress.add([phase("scoring", 10, 10, "base"), phase("answering", 4, 8, "base")])
    assert progress.text() == "Model 1 of 3: base · answering 4 / 8 rows"
    assert progress.fraction() == pytest.approx(0.75 / 3)
    progress.add([phase("evaluating", 1, 3, "pirate/v1")])
    assert progress.text() == "Model 2 of 3: pirate/v1" and progress.fraction() == pytest.approx(1 / 3)
    assert progress.started is not None
    assert progress.eta_s(now=progress.started + 30) == pytest.approx(60)  # a third took 30 s: 60 s left
    progress.add([phase("evaluating", 3, 3)])
    assert progress.fraction() == 1.0 and progress.eta_s(now=progress.started + 90) == 0
    assert progress.text() == "All 3 models scored; finishing…"


@pytest.fixture
def page(qtbot, state, tiny_model_dir, studio_home):
    state.job.model.path = str(tiny_model_dir)  # the base alone: no adapter chosen
    state.set_dataset("bundled")
    widget = ComparePage(state)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: not widget.looking_up(), timeout=10_000)
    yield widget
    widget.shutdown()


def follow(page: ComparePage) -> list[object]:
    """Every event of the running eval, each with the progress line shown once it was read."""
    seen: list[object] = []
    assert page.eval_follower is not None
    page.eval_follower.events.connect(lambda events: seen.extend((e, page.eval_bar.phase.text()) for e in events))
    return seen


@pytest.mark.integration
@pytest.mark.slow
def test_an_evaluation_shows_its_progress_then_a_second_is_cancelled(page, qtbot):
    page.set_adapters([])
    run_dir = page.evaluate()
    assert run_dir is not None and page.evaluating()
    seen = follow(page)
    assert not page.evaluate_button.isEnabled() and page.eval_bar.isVisible()
    assert page.evaluate() is None  # one at a time
    qtbot.waitUntil(lambda: not page.evaluating(), timeout=180_000)
    # The bar's line after each read of the events file; a fast eval's phases can all arrive in one read,
    # so what it said at each event is replayed through the same EvalProgress the bar shows.
    shown = {line for _e, line in seen}
    assert shown & {"Model 1 of 1: base", "All 1 models scored; finishing…"} or \
        any(line.startswith("Model 1 of 1: base") for line in shown), shown
    progress, lines = EvalProgress(), []
    for event, _line in seen:
        progress.add([event])
        lines.append(progress.text())
    assert "Model 1 of 1: base" in " ".join(lines), lines
    assert any("loss" in line and "batches" in line for line in lines)
    assert any("answering 8 / 8 rows" in line for line in lines)
    assert page.metrics.rowCount() == 1 and page.evaluate_button.isEnabled() and not page.eval_bar.isVisible()

    run_dir = page.evaluate()
    seen = follow(page)
    # Cancel once the worker said hello: its control socket is up, the model not loaded yet.
    qtbot.waitUntil(lambda: any(isinstance(e, protocol.Hello) for e, _line in seen), timeout=60_000)
    page.eval_bar.cancel.click()
    assert not page.eval_bar.cancel.isEnabled() and page.eval_bar.cancel.text() == "Cancelling…"
    qtbot.waitUntil(lambda: not page.evaluating(), timeout=60_000)
    assert runs.summarize(run_dir).status == "cancelled"
    assert page.status.lines() == ["Evaluation cancelled."]
    assert page.evaluate_button.isEnabled() and not page.eval_bar.isVisible()
    assert page.metrics.rowCount() == 1  # the first evaluation's scores stay
