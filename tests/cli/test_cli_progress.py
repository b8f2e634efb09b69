"""The terminal view of a worker's events: an evaluation is one line that fills, not a
line per batch report (issue 21: the CLI printed ~21 'evaluating' lines per eval)."""

from __future__ import annotations

import io

from rich.console import Console

from studio.cli.progress import EventPrinter
from studio.core import protocol


def printed(events: list[protocol.Event], terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120, color_system=None)
    with EventPrinter(console) as printer:
        for event in events:
            printer.show(event)
    return out.getvalue()


def an_eval(batches: int) -> list[protocol.Event]:
    return [protocol.Phase("evaluating", done=done, total=batches, detail="held-out rows")
            for done in range(batches + 1)]


def test_an_evaluation_in_a_log_is_its_start_and_its_end():
    text = printed([protocol.Phase("loading model"), *an_eval(20), protocol.Phase("saving")], terminal=False)
    lines = [line for line in text.splitlines() if "evaluating" in line]
    assert lines == ["evaluating held-out rows 0/20", "evaluating held-out rows 20/20"]
    assert "loading model" in text and "saving" in text


def test_two_evaluations_each_get_their_lines():
    text = printed([*an_eval(4), protocol.Step(5, 10, 0.5, 1.0, 1e-4), *an_eval(4)], terminal=False)
    assert text.count("evaluating held-out rows 0/4") == 2 and text.count("4/4") == 2


def test_a_phase_first_seen_complete_is_one_line():
    text = printed([protocol.Phase("evaluating", done=3, total=3)], terminal=False)
    assert [line for line in text.splitlines() if "evaluating" in line] == ["evaluating 3/3"]


def test_in_a_terminal_the_evaluation_is_a_bar_that_ends_full():
    text = printed(an_eval(20), terminal=True)
    assert "20/20" in text and "evaluating" in text
    assert "steps" not in text  # an evaluation counts batches, not training steps


PAIR_NUMBERS = {"rewards/margins": 1.234, "rewards/accuracies": 0.75, "rewards/chosen": -0.5}


def test_a_preference_step_says_its_margin_and_pairs_ranked_right():
    text = printed([protocol.Step(1, 2, 0.5, 0.6931, 1e-4, preference=PAIR_NUMBERS)], terminal=False)
    assert "step 1/2: loss 0.6931 margin 1.23 ranked right 75% lr 1.00e-04" in text


def test_a_preference_evaluation_shows_its_margin_not_a_perplexity():
    text = printed([protocol.Eval(step=4, eval_loss=0.3, perplexity=None, preference=PAIR_NUMBERS),
                    protocol.Eval(step=8, eval_loss=2.0, perplexity=7.389)], terminal=False)
    lines = [line for line in text.splitlines() if line.startswith("eval")]
    assert lines == ["eval step 4: loss 0.3000 margin 1.23 ranked right 75%",
                     "eval step 8: loss 2.0000, perplexity 7.39"]
