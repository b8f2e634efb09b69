"""A GRPO run's latest sampled answers with each reward's score: what the rewards actually reward.

The worker sends a ``completions`` event every grpo.sample_steps steps; this view shows the
newest (live, or replayed from events.jsonl), as read-only selectable text: the step, then for
each sample its prompt, its answer, every reward function's score ("failed" where the function
raised and was left out) and the total.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from PySide6.QtWidgets import QTextBrowser, QWidget

from studio.core import protocol

EMPTY = "No completions yet: a GRPO run sends a few of its sampled answers every grpo.sample_steps steps."


class CompletionsView(QTextBrowser):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setOpenLinks(False)
        self.step: int | None = None
        self.samples: list[dict] = []
        self.clear()

    def clear(self) -> None:
        self.step, self.samples = None, []
        self.setPlainText(EMPTY)

    def add_events(self, events: Iterable[protocol.Event]) -> None:
        """Show the newest completions event among ``events`` (the others are older)."""
        latest = None
        for event in events:
            if event.type == "completions":
                latest = event
        if latest is not None:
            self.show_completions(latest)

    def show_completions(self, event: protocol.Completions) -> None:
        samples = [sample for sample in event.samples or [] if isinstance(sample, dict)]
        self.step, self.samples = int(event.step), samples
        parts = [f"<p><b>Step {self.step}</b> · {len(samples)} sampled answer(s)</p>"]
        for number, sample in enumerate(samples, 1):
            parts.append(f"<p><b>{number}. Prompt</b><br>{_text(sample.get('prompt'))}</p>"
                         f"<p><b>Answer</b><br>{_text(sample.get('completion'))}</p>"
                         f"<p><b>Rewards</b>: {html.escape(scores_line(sample))}</p><hr>")
        self.setHtml("".join(parts))

    def text(self) -> str:
        return self.toPlainText()


def scores_line(sample: dict) -> str:
    """"numeric_match 1.00 · answer_tags failed · total 1.00" for one sample."""
    rewards = sample.get("rewards")
    parts = [f"{label} {_score(score)}" for label, score in (rewards.items() if isinstance(rewards, dict) else ())]
    parts.append(f"total {_score(sample.get('total'))}")
    return " · ".join(parts)


def _score(value: object) -> str:
    if value is None:
        return "failed"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f}"
    return str(value)


def _text(value: object) -> str:
    return html.escape("" if value is None else str(value)).replace("\n", "<br>")
