"""One adapter version in detail: its card, the loss curve of the run that made it, its lineage."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

from studio.core import paths
from studio.core.library import Entry
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

    def show_entry(self, entry: Entry | None, card: dict[str, Any], parents: list[str], children: list[str]) -> None:
        self.chart.clear_data()
        if entry is None:
            self.card_view.setHtml("<p>Select an adapter to see its card.</p>")
            self.lineage.show_lineage("", [], [])
            return
        self.card_view.setHtml(card_html(entry, card))
        self.lineage.show_lineage(entry.ref, parents, children)
        run_dir = paths.runs_dir() / entry.run_id if entry.run_id else None
        if run_dir is not None and run_dir.is_dir():
            steps, losses = step_losses(run_dir)
            if len(steps):
                self.chart.set_data("loss", np.asarray(steps, float), np.asarray(losses, float))
                self.chart.set_title("Loss of its run", f"{losses[-1]:.4f}")
                return
        self.chart.set_title("Loss of its run", "no run on this machine" if entry.run_id else "not trained here")


def card_html(entry: Entry, card: dict[str, Any]) -> str:
    lora, training = card.get("lora") or {}, card.get("training") or {}
    metrics, dataset = card.get("metrics") or {}, card.get("dataset") or {}
    base = card.get("base_model") or {}
    rows = [
        ("Base model", base.get("name") or base.get("id") or "?"),
        ("Method", card.get("method", "?")),
        ("Rank / alpha", f"{lora.get('r', '?')} / {lora.get('alpha', '?')}"),
        ("Modules", ", ".join((card.get("peft_config") or {}).get("target_modules") or []) or "?"),
        ("Dataset", Path(str(dataset.get("path") or "—")).name
         + (f" ({dataset['rows_train']} rows)" if dataset.get("rows_train") else "") if dataset else "—"),
        ("Learning rate / steps", f"{training.get('learning_rate', '?')} / {metrics.get('steps', '?')}"
         if training else "—"),
        ("Train / eval loss", f"{_num(metrics.get('train_loss'))} / {_num(metrics.get('eval_loss'))}"),
        ("Perplexity", _num(metrics.get("perplexity"))),
        ("Run", card.get("run_id") or "—"),
        ("Created", card.get("created") or "—"),
        ("Tags", ", ".join(card.get("tags") or []) or "—"),
    ]
    if card.get("merge"):
        merge = card["merge"]
        rows.insert(2, ("Merged", f"{merge.get('combination')} of {', '.join(merge.get('adapters') or [])} "
                                  f"with weights {merge.get('weights')}"))
    if card.get("imported_from"):
        rows.append(("Imported from", card["imported_from"]))
    body = "".join(f"<tr><td style='padding-right:12px'><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    notes = card.get("notes") or ""
    return (f"<h3 style='margin:0'>{html.escape(entry.ref)}</h3><table>{body}</table>"
            + (f"<p><i>{html.escape(notes)}</i></p>" if notes else "")
            + f"<p style='color:gray'>{html.escape(entry.path)}</p>")


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"
