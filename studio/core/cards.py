"""``card.json``: everything needed to know what an adapter is and how it was made.

Written beside every saved adapter (DESIGN.md lists the fields). It is the source
of truth the library index is rebuilt from, so it is built here, in pure Python,
and the engine only fills in the numbers.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from studio.core.jobs import TrainJob

CARD_VERSION = 1


def build_card(job: TrainJob, *, name: str, base: dict[str, Any], dataset: dict[str, Any],
               metrics: dict[str, Any], run_id: str, peft_config: dict[str, Any],
               parents: list[str] | None = None, version: int | None = None) -> dict[str, Any]:
    return {
        "card_version": CARD_VERSION,
        "name": name,
        "version": version,
        "base_model": base,
        "method": job.lora.method_label(job.model.quantization),
        "lora": dataclasses.asdict(job.lora),
        "peft_config": peft_config,
        "quantization": job.model.quantization,
        "dataset": dataset,
        "training": dataclasses.asdict(job.training),
        "metrics": metrics,
        "parents": parents or [],
        "run_id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tags": [],
        "notes": "",
    }


def card_readme(card: dict[str, Any]) -> str:
    """A short human-readable README.md for the adapter folder."""
    metrics = card.get("metrics", {})
    base = card.get("base_model", {})
    lines = [
        f"# {card['name']}",
        "",
        f"A {card['method']} adapter for `{base.get('name', base.get('id', '?'))}`, trained with LoRA Studio.",
        "",
        f"- rank {card['lora']['r']}, alpha {card['lora']['alpha']}, modules: "
        f"{', '.join(card['peft_config'].get('target_modules') or [])}",
        f"- dataset: `{card['dataset'].get('path')}` ({card['dataset'].get('rows_train')} training rows)",
        f"- train loss {_num(metrics.get('train_loss'))}, eval loss {_num(metrics.get('eval_loss'))}, "
        f"perplexity {_num(metrics.get('perplexity'))}",
        "",
        "Load it with `peft.PeftModel.from_pretrained(base_model, this_folder)`.",
        "",
    ]
    return "\n".join(lines)


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"
