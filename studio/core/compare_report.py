"""A comparison as a Markdown report: what was asked, who answered what, how they scored.

Pure data in, text out, so the Compare page, the CLI and tests share it. Reports are
saved under ``<home>/library/reports/`` beside the adapters they compare.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core import atomic, paths
from studio.core.cards import Card

LOWER_IS_BETTER = {"eval_loss", "perplexity"}
METRIC_COLUMNS = (("eval loss", "eval_loss"), ("perplexity", "perplexity"), ("ROUGE-L", "rouge_l"),
                  ("exact match", "exact_match"))


@dataclass
class Comparison:
    base: str
    models: list[str]
    sampling: dict[str, Any] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)  # {"prompt", "model", "text", "tokens", "seconds"}
    metrics: list[dict[str, Any]] = field(default_factory=list)  # eval results, one per model
    diff: list[tuple[str, list[Any]]] = field(default_factory=list)  # field, value per adapter
    blind_votes: dict[str, int] = field(default_factory=dict)  # model -> prompts won


def best(metrics: list[dict[str, Any]], key: str) -> float | None:
    values = [m[key] for m in metrics if isinstance(m.get(key), int | float)]
    if not values:
        return None
    return min(values) if key in LOWER_IS_BETTER else max(values)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def to_markdown(comparison: Comparison) -> str:
    lines = [f"# Comparison, {time.strftime('%Y-%m-%d %H:%M')}", "",
             f"Base model: `{comparison.base}`. Models: " + ", ".join(f"`{m}`" for m in comparison.models) + ".",
             "Sampling: " + ", ".join(f"{k} {v}" for k, v in comparison.sampling.items()) + ".", ""]
    prompts = list(dict.fromkeys(a["prompt"] for a in comparison.answers))
    if prompts:
        lines += ["## Answers", ""]
        for prompt in prompts:
            lines += [f"### {prompt}", "", "| model | answer | tokens | seconds |", "| --- | --- | --- | --- |"]
            for a in (a for a in comparison.answers if a["prompt"] == prompt):
                lines.append(f"| `{a['model']}` | {_cell(a['text'])} | {a.get('tokens', '')} | {a.get('seconds', '')} |")
            lines.append("")
    if comparison.metrics:
        lines += ["## Metrics", "", "| model | " + " | ".join(t for t, _k in METRIC_COLUMNS) + " |",
                  "| --- |" + " --- |" * len(METRIC_COLUMNS)]
        winners = {key: best(comparison.metrics, key) for _t, key in METRIC_COLUMNS}
        for row in comparison.metrics:
            cells = []
            for _title, key in METRIC_COLUMNS:
                value = row.get(key)
                text = "—" if value is None else f"{value:.4f}"
                cells.append(f"**{text}**" if value is not None and value == winners[key] else text)
            lines.append(f"| `{row['adapter']}` | " + " | ".join(cells) + " |")
        lines += ["", "Best in each column in bold (lower loss and perplexity, higher ROUGE-L and exact match).", ""]
    if comparison.blind_votes:
        total = sum(comparison.blind_votes.values())
        lines += ["## Blind A/B", "", f"{total} prompt(s) judged without knowing which model answered:", ""]
        lines += [f"- `{model}`: {wins} win(s)" for model, wins in
                  sorted(comparison.blind_votes.items(), key=lambda kv: -kv[1])]
        lines.append("")
    if comparison.diff:
        adapters = [m for m in comparison.models if m != "base"]
        lines += ["## Configuration differences", "", "| field | " + " | ".join(f"`{a}`" for a in adapters) + " |",
                  "| --- |" + " --- |" * len(adapters)]
        lines += [f"| {key} | " + " | ".join(_cell(v) for v in values) + " |" for key, values in comparison.diff]
        lines.append("")
    return "\n".join(lines)


def save(comparison: Comparison, folder: Path | None = None) -> Path:
    folder = folder or paths.library_dir() / "reports"
    path = Path(folder) / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.md"
    atomic.write_text(path, to_markdown(comparison))
    return path


def diff_many(cards: dict[str, Card | None]) -> list[tuple[str, list[Any]]]:
    """Fields whose values differ among several adapters' cards: (field, value per adapter)."""
    from studio.core.library.diff import flat_card

    flat = {ref: flat_card(card) for ref, card in cards.items()}
    keys = sorted({k for values in flat.values() for k in values})
    rows = []
    for key in keys:
        values = [flat[ref].get(key) for ref in cards]
        if len({repr(v) for v in values}) > 1:
            rows.append((key, values))
    return rows
