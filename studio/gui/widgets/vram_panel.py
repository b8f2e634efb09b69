"""The Train page's "will it fit?" panel: the estimate's parts against a card, and fixes.

The card is this machine's GPU when NVML finds one, else a common size the user picks
(most people tune here and train elsewhere). Suggestions come from core.vram.suggest;
"Apply" hands their edits to the Train form. A job that fits but leaves a known GPU mostly
idle gets core.batch_advice's larger batch, with the predicted time before and after;
"Use batch N" hands it to the form the same way (nothing changes until it is pressed).
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import batch_advice, gpus, launch_plan, step_time, vram, vram_advice, vram_band
from studio.core.datasets import TokenStats
from studio.core.jobs import TrainJob
from studio.core.methods import METHODS
from studio.gui.widgets.job_form import field_label
from studio.gui.widgets.vram_bar import VramBar, legend_html

MAX_SUGGESTIONS = 3
DEFAULT_CARD_GIB = 24  # without a GPU here: the commonest card people fine-tune on


class VramPanel(QGroupBox):
    apply_requested = Signal(dict)  # dotted job field -> value
    card_chosen = Signal(str)  # the card list's text (Settings.vram_card)

    def __init__(self, card: str = "", parent: QWidget | None = None):
        super().__init__("GPU memory (estimate)", parent)
        self.estimate: vram.Estimate | None = None
        self.suggestions: list[vram.Suggestion] = []
        self.advice: batch_advice.BatchAdvice | None = None
        self.graphs = False  # whether the estimate counts CUDA graphs' pool (core.step_time.graphs_expected)
        self._note = ""
        self._tokens: TokenStats | None = None
        self._mean_tokens: tuple[TokenStats | None, int, float] = (None, 0, 0.0)  # lengths, max_length, mean
        self._last: tuple[Any, ...] | None = None
        self._model: Any = None
        self._job: TrainJob | None = None
        self.card_combo = QComboBox()
        self.card_combo.setToolTip("The card to compare with: this machine's GPU, or a common size if you "
                                   "will train elsewhere.")
        for gpu in gpus.visible_gpus():
            self.card_combo.addItem(f"{gpu.name} (this machine)", gpu.total_bytes)
        for reference in vram_advice.CARDS:
            self.card_combo.addItem(reference.label, reference.bytes)
        self.card_combo.setCurrentIndex(self._index_for(card))
        self.card_combo.currentIndexChanged.connect(self._card_changed)
        self.bar = VramBar()
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.legend = QLabel()
        self.band = QLabel()  # how far the estimate has been from measured peaks, for this model's family
        self.band.setWordWrap(True)
        self.band.setStyleSheet("color: gray")
        self.suggestion_rows = QVBoxLayout()
        self.suggestion_rows.setSpacing(2)
        self.advice_label = QLabel()
        self.advice_label.setWordWrap(True)
        self.advice_button = QPushButton()
        self.advice_button.clicked.connect(self._use_advice)
        advice_row = QHBoxLayout()
        advice_row.addWidget(self.advice_label, 1)
        advice_row.addWidget(self.advice_button)
        self._show_advice()
        card_row = QHBoxLayout()
        card_row.addWidget(QLabel("Card:"))
        card_row.addWidget(self.card_combo, 1)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addLayout(card_row)
        layout.addWidget(self.bar)
        layout.addWidget(self.verdict)
        layout.addWidget(self.band)
        layout.addWidget(self.legend)
        layout.addLayout(advice_row)
        layout.addLayout(self.suggestion_rows)

    # -- public ------------------------------------------------------------------------------

    def capacity(self) -> int:
        return int(self.card_combo.currentData())

    def card_name(self) -> str:
        """The chosen card in a sentence: "the NVIDIA H200 (this machine)", "the 8 GiB (RTX 4060) card"."""
        text = self.card_combo.currentText()
        return f"the {text}" if text.endswith("(this machine)") else f"the {text} card"

    def show_job(self, model: Any, job: TrainJob | None, tokens: TokenStats | None = None, note: str = "") -> None:
        """Redraw for this model and job (cheap when nothing changed); ``tokens``: the dataset's
        token lengths, for the batch advice (none without them); ``note``: a line under the
        verdict (where Start will really train, when that is not this card)."""
        self._model, self._job, self._tokens, self._note = model, job, tokens, note
        key = (id(model), job, self.capacity(), id(tokens), note)
        if key == self._last:
            return
        self._last = key
        self.estimate, self.suggestions, self.advice, self.graphs = None, [], None, False
        message = self._compute(model, job)
        if note and self.estimate is not None:
            message = f"<i>{html.escape(note)}</i><br>{message}"
        self._show_advice()
        self.bar.show_estimate(self.estimate, self.capacity())
        self.legend.setVisible(self.estimate is not None)
        self.band.setVisible(self.estimate is not None)
        if self.estimate is not None:
            self.legend.setText(legend_html(self.estimate))
            accuracy = vram_band.accuracy(model.config)
            self.band.setText(f"The estimate: {html.escape(accuracy)}.")
            self.legend.setToolTip(f"Peak memory during a training step, per part; {accuracy} "
                                   "(docs/vram_validation.md).")
        self.verdict.setText(message)
        self._show_suggestions()

    # -- internals ---------------------------------------------------------------------------

    def _compute(self, model: Any, job: TrainJob | None) -> str:
        if model is None:
            return "Select a model to see the estimate."
        if job is None:
            return "Fix the problems below to see the estimate."
        if job.training.device == "cpu":
            return "Training on the CPU: no GPU memory is used."
        mean = self._mean_row_tokens(job)
        graphs = step_time.graphs_expected(job, model.config, self.card_combo.currentText(),
                                           None if mean is None else step_time.tokens_per_step(
                                               mean, job.training.batch_size))
        self.graphs = graphs
        try:
            self.estimate, options = launch_plan.per_gpu_estimate(
                job, model.config, getattr(model, "num_parameters", None), self.capacity(), graphs=graphs)
        except vram.EstimateError as exc:
            return f"No estimate: {html.escape(str(exc))}."
        total, capacity = self.estimate.total, self.capacity()
        card = html.escape(self.card_combo.currentText().split(" (")[0])
        each = (f"<br>Per GPU: {self.estimate.gpus} GPUs, {self.estimate.strategy.upper()}."
                if self.estimate.gpus > 1 else "")
        if vram.fits(total, job, capacity):
            self.advice = self._advise(model, job, capacity, mean)
            partial = vram.partial_checkpointing(job, model.config, capacity, **options)
            if partial is not None:  # the one figure shown is what will run
                self.estimate = partial.estimate
            runs = self.estimate.total
            return (f"<b>{vram.format_bytes(runs)}</b> peak: fits {card}, "
                    f"{vram.format_bytes(capacity - runs)} to spare.{each}"
                    + (f"<br>{html.escape(partial.sentence())}" if partial else ""))
        advice = vram_advice.advise(job, model.config, capacity, limit=MAX_SUGGESTIONS, **options)
        self.suggestions = list(advice.suggestions)
        try_ = " Try:" if self.suggestions else ""
        if total <= capacity:
            said = (f"<b style='color:#b8860b'>{vram.format_bytes(total)}</b> peak: may not fit {card}, past the "
                    f"{vram.format_bytes(advice.budget)} safe to plan for.{each}{try_}")
        else:
            said = (f"<b style='color:#d62728'>{vram.format_bytes(total)}</b> peak: does not fit {card} "
                    f"({vram.format_bytes(total - capacity)} too much).{each}{try_}")
        reasons = advice.lines(f"one {card} card" if card[:1].isdigit() else f"one {card}")
        return said + "".join(f"<br>{html.escape(line)}" for line in reasons)

    def _show_suggestions(self) -> None:
        while self.suggestion_rows.count():
            item = self.suggestion_rows.takeAt(0)
            row = item.layout()
            while row is not None and row.count():
                widget = row.takeAt(0).widget()
                if widget is not None:
                    widget.deleteLater()
        for suggestion in self.suggestions:
            row = QHBoxLayout()
            text = QLabel(f"{html.escape(suggestion.label)} → <b>{vram.format_bytes(suggestion.estimate.total)}</b>")
            text.setWordWrap(True)
            button = QPushButton("Apply")
            button.setToolTip("Change the form: " + ", ".join(f"{field_label(k)} = {_shown(k, v)}"
                                                              for k, v in suggestion.edits.items()))
            button.clicked.connect(lambda _=False, s=suggestion: self.apply_requested.emit(dict(s.edits)))
            row.addWidget(text, 1)
            row.addWidget(button)
            self.suggestion_rows.addLayout(row)

    def _mean_row_tokens(self, job: TrainJob) -> float | None:
        """The dataset's mean real tokens a row at the job's max length; None without token lengths."""
        tokens = self._tokens
        if tokens is None or not tokens.count:
            return None
        measured, max_length, mean = self._mean_tokens
        if measured is not tokens or max_length != job.training.max_length:  # milliseconds for a big file
            mean = step_time.mean_row_tokens(tokens.lengths, job.training.max_length)
            self._mean_tokens = (tokens, job.training.max_length, mean)
        return mean

    def _advise(self, model: Any, job: TrainJob, capacity: int,
                mean: float | None) -> batch_advice.BatchAdvice | None:
        """A larger batch when the job leaves the card mostly idle. The card's name (this
        machine's GPU, or a reference card's label) says its speed; none without token lengths."""
        if mean is None or self._tokens is None:
            return None
        return batch_advice.advise(job, model.config, gpu_name=self.card_combo.currentText(), capacity_bytes=capacity,
                                   rows=self._tokens.count, mean_tokens=mean,
                                   num_parameters=getattr(model, "num_parameters", None))

    def _show_advice(self) -> None:
        advice = self.advice
        self.advice_label.setVisible(advice is not None)
        self.advice_button.setVisible(advice is not None)
        if advice is None:
            return
        self.advice_label.setText(html.escape(advice.short()))
        self.advice_label.setToolTip(advice.sentence() + " Predicted from the GPU's speed and the per-step "
                                     "overhead measured on an H200; the time of the steps only.")
        self.advice_button.setText(f"Use batch {advice.batch_size}")
        self.advice_button.setToolTip(f"Set the batch size to {advice.batch_size}; the learning rate stays yours "
                                      "to change.")

    def _use_advice(self) -> None:
        if self.advice is not None:
            self.apply_requested.emit(dict(self.advice.edits))

    def suggestion_buttons(self) -> list[QPushButton]:
        buttons = []
        for i in range(self.suggestion_rows.count()):
            row = self.suggestion_rows.itemAt(i).layout()
            buttons.append(row.itemAt(1).widget())
        return buttons

    def _index_for(self, card: str) -> int:
        """The card list's entry for a saved choice: its text, else the same size (a label saved by
        an older version, "24 GB (RTX 3090/4090, A10)"), else this machine's GPU or a 24 GiB card."""
        index = self.card_combo.findText(card) if card else -1
        if index < 0 and card[:1].isdigit():
            size = int(card.split()[0]) * vram.GIB if card.split()[0].isdigit() else -1
            index = next((i for i in range(self.card_combo.count()) if self.card_combo.itemData(i) == size
                          and not self.card_combo.itemText(i).endswith("(this machine)")), -1)
        if index < 0:
            index = 0 if gpus.visible_gpus() else next(
                i for i in range(self.card_combo.count()) if self.card_combo.itemData(i) == DEFAULT_CARD_GIB * vram.GIB)
        return index

    def _card_changed(self) -> None:
        self.show_job(self._model, self._job, self._tokens, self._note)
        self.card_chosen.emit(self.card_combo.currentText())  # after: the Train page holds the job against it


def _shown(dotted: str, value: Any) -> str:
    """A suggested value as the form shows it: on/off for a check box, the method that sets a
    method's field (QLoRA 4-bit for 4-bit loading)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    section, name = dotted.split(".", 1)
    return next((m.label for m in METHODS.values() if m.job_fields.get(section, {}).get(name) == value), str(value))
