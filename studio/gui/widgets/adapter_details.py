"""One adapter version in detail: its card, the loss curve of the run that made it, its lineage."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

from studio.core import paths
from studio.core.cards import Card
from studio.core.jobs import STAGE_SETTINGS
from studio.core.library import Entry
from studio.core.stage_names import card_stage, is_preference, preference_metrics, stage_tag
from studio.gui.widgets.lineage_view import LineageView
from studio.gui.widgets.loss_overlay import step_losses
from studio.gui.widgets.metric_chart import MetricChart, colours


class AdapterDetails(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.card_view = QTextBrowser()
        self.card_view.setOpenExternalLinks(False)
        self.chart = MetricChart("Loss of its run")
        self.chart.add_curve("loss", colours()[0])
        self.chart.setMinimumHeight(150)
        self.lineage = LineageView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.card_view, 3)
        layout.addWidget(self.chart, 2)
        layout.addWidget(QLabel("<b>Lineage</b>"))
        layout.addWidget(self.lineage)

    def show_entry(self, entry: Entry | None, card: Card | None, parents: list[str], children: list[str],
                   stages: dict[str, str] | None = None) -> None:
        """``stages``: the training stage of the entry, its parents and children (for the lineage's tags)."""
        self.chart.clear_data()
        if entry is None:
            self.card_view.setHtml("<p>Select an adapter to see its card.</p>")
            self.lineage.show_lineage("", [], [])
            return
        self.card_view.setHtml(card_html(entry, card))
        self.lineage.show_lineage(entry.ref, parents, children, stages)
        run_dir = paths.runs_dir() / entry.run_id if entry.run_id else None
        if run_dir is not None and run_dir.is_dir():
            steps, losses = step_losses(run_dir)
            if len(steps):
                self.chart.set_data("loss", np.asarray(steps, float), np.asarray(losses, float))
                self.chart.set_title("Loss of its run", f"{losses[-1]:.4f}")
                return
        self.chart.set_title("Loss of its run", "no run on this machine" if entry.run_id else "not trained here")


def card_html(entry: Entry, card: Card | None) -> str:
    card = card or Card(method="?")
    metrics, dataset, merge = card.metrics, card.dataset, card.merge
    stage = card_stage(card)
    preference = is_preference(stage)
    rows = [
        ("Base model", card.base_model.label),
        ("Method", card.method),
        ("Stage", stage_tag(stage) + (f" ({_settings(card.preference, stage)})" if preference and card.preference else "")),
        ("Rank / alpha", f"{_or_unknown(card.rank)} / {_or_unknown(card.alpha)}") if card.alpha is not None
        else ("Rank", _or_unknown(card.rank)),
        ("Modules", ", ".join(card.target_modules) or "?"),
        ("Dataset", Path(dataset.path).name + (f" ({dataset.rows_train} rows)" if dataset.rows_train else "")
         if dataset.path else "—"),
        ("Learning rate / steps", f"{_or_unknown(card.learning_rate)} / {_or_unknown(metrics.steps)}"
         if card.training else "—"),
        ("Train / eval loss", f"{_num(metrics.train_loss)} / {_num(metrics.eval_loss)}"),
        *preference_rows(metrics.preference),
        # exp of a preference loss is no perplexity: left out for a preference adapter
        *([] if preference else [("Perplexity", _num(metrics.perplexity))]),
        ("Run", card.run_id or "—"),
        ("Created", card.created or "—"),
        ("Tags", ", ".join(card.tags) or "—"),
    ]
    if merge is not None:
        rows.insert(2, ("Merged", f"{merge.combination} of {', '.join(merge.adapters)} with weights {merge.weights}"))
    if card.imported_from:
        rows.append(("Imported from", card.imported_from))
    body = "".join(f"<tr><td style='padding-right:12px'><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    return (f"<h3 style='margin:0'>{html.escape(entry.ref)}</h3><table>{body}</table>"
            + (f"<p><i>{html.escape(card.notes)}</i></p>" if card.notes else "")
            + f"<p style='color:gray'>{html.escape(entry.path)}</p>")


def preference_rows(numbers: dict[str, float] | None) -> list[tuple[str, str]]:
    """A preference adapter's last reward margin and pairs ranked right (held-out where measured)."""
    return [(label[0].upper() + label[1:], spec.format(value)) for value, label, spec in preference_metrics(numbers)]


def _settings(preference: dict[str, Any], stage: str) -> str:
    """The preference settings ``stage`` reads (SimPO's gamma, not KTO's weights)."""
    return ", ".join(f"{key} {preference[key]}" for key in STAGE_SETTINGS.get(stage, ()) if key in preference)


def _or_unknown(value: Any) -> Any:
    return "?" if value is None else value


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"
