"""``card.json``: everything needed to know what an adapter is and how it was made.

Written beside every saved adapter (DESIGN.md lists the fields). It is the source
of truth the library index is rebuilt from, and cards written by older versions
must keep reading, so it is one typed record (:class:`Card`) made by one builder
(:func:`build_card`, for trained, merged and imported adapters alike); the engine
only fills in the numbers.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core import atomic, methods
from studio.core.jobs import TrainJob
from studio.core.outputs import TrainMetrics
from studio.core.paths import user_path
from studio.core.records import Record

CARD_NAME = "card.json"
CARD_VERSION = 1  # the format's version: bump it (and read the old one) when a key changes meaning


@dataclass
class BaseModelRef(Record):
    """The base model an adapter was trained on."""

    id: str | None = None  # the job's model.path setting ("bundled", a folder, a hub id)
    model_id: str | None = None  # discovery's id of the model (core.models)
    name: str | None = None
    architecture: str | None = None
    model_type: str | None = None
    num_parameters: int | None = None
    path: str | None = None  # the file or folder it was loaded from
    hf_folder: str | None = None  # the Hugging Face folder (a .gguf's conversion)
    file_key: str | None = None  # a .gguf's converted-cache key

    @property
    def label(self) -> str:
        return self.name or self.id or "?"

    def setting(self) -> str | None:
        """The ``model.path`` a job needs to load this base, when it exists on this machine."""
        if self.id == "bundled":
            return "bundled"
        for value in (self.path, self.hf_folder, self.id):
            if value and user_path(value).exists():
                return value
        return None


@dataclass
class DatasetRef(Record):
    """The data an adapter was trained on."""

    path: str | None = None
    format: str | None = None
    fingerprint: str | None = None
    rows: int | None = None
    rows_train: int | None = None
    rows_eval: int | None = None
    rows_held_out: int | None = None
    train_on: str | None = None


@dataclass
class MergeInfo(Record):
    """How a merged adapter was combined from its parents."""

    combination: str | None = None
    weights: list[float] = field(default_factory=list)
    density: float | None = None
    adapters: list[str] = field(default_factory=list)


@dataclass
class Card(Record):
    VERSION_KEY = "card_version"
    VERSION = CARD_VERSION

    name: str = ""
    version: int | None = None  # the library version (set when added to the library)
    base_model: BaseModelRef = field(default_factory=BaseModelRef)
    method: str = "lora"  # the label the library shows and filters on ("qlora+dora", "merge (ties)")
    lora: dict[str, Any] = field(default_factory=dict)  # the job's lora section (or r/alpha/dropout)
    peft_config: dict[str, Any] = field(default_factory=dict)  # peft's own adapter config
    quantization: str | None = None
    dataset: DatasetRef = field(default_factory=DatasetRef)
    training: dict[str, Any] | None = None  # the job's training section (its stage among them)
    preference: dict[str, Any] | None = None  # the job's preference section, for a preference stage's adapter
    grpo: dict[str, Any] | None = None  # the job's grpo section (its rewards among them), for a GRPO adapter
    sweep: dict[str, Any] | None = None  # the sweep that chose it: name, trial, params, objective, value, trials
    metrics: TrainMetrics = field(default_factory=TrainMetrics)
    parents: list[str] = field(default_factory=list)  # lineage: merged from, or trained on top of
    run_id: str | None = None
    created: str = ""
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    merge: MergeInfo | None = None
    imported_from: str | None = None
    merged_into_base: bool | None = None  # the copy kept beside an exported full model

    @property
    def rank(self) -> int | None:
        rank = self.lora.get("r") or self.peft_config.get("r")
        return rank if isinstance(rank, int) and not isinstance(rank, bool) else None

    @property
    def alpha(self) -> Any:
        """LoRA's scale; None for a tuner that has none (VeRA, OFT: its field is left at the default)."""
        tuner = str(self.lora.get("tuner") or "lora")
        if tuner in methods.tuner_names() and "alpha" not in methods.tuner(tuner).uses:
            return None
        return self.lora.get("alpha", self.peft_config.get("lora_alpha"))

    @property
    def target_modules(self) -> list[str]:
        modules = self.peft_config.get("target_modules") or []
        return [modules] if isinstance(modules, str) else [str(m) for m in modules]

    @property
    def learning_rate(self) -> Any:
        return (self.training or {}).get("learning_rate")

    def summary(self) -> CardSummary:
        """What the library index keeps of this card."""
        base = self.base_model
        return CardSummary(
            name=self.name, version=self.version or 0, base_id=base.model_id or base.id or "",
            base_name=base.name or "", architecture=base.architecture or "", method=self.method or "lora",
            rank=self.rank, dataset=self.dataset.path or "", train_loss=self.metrics.train_loss,
            eval_loss=self.metrics.eval_loss, perplexity=self.metrics.perplexity, created=self.created,
            tags=list(self.tags), notes=self.notes, parents=list(self.parents), run_id=self.run_id or "")


@dataclass(kw_only=True)
class CardSummary:
    """The part of a card the library index keeps: its columns are these fields
    (plus where the folder is: core.library.index.Entry)."""

    name: str
    version: int
    base_id: str = ""
    base_name: str = ""
    architecture: str = ""
    method: str = ""
    rank: int | None = None
    dataset: str = ""
    train_loss: float | None = None
    eval_loss: float | None = None
    perplexity: float | None = None
    created: str = ""
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    parents: list[str] = field(default_factory=list)
    run_id: str = ""


def build_card(peft_config: dict[str, Any], *, name: str, base_model: BaseModelRef, method: str | None = None,
               job: TrainJob | None = None, dataset: DatasetRef | None = None, metrics: TrainMetrics | None = None,
               parents: Sequence[str] = (), run_id: str | None = None, merge: MergeInfo | None = None,
               imported_from: str | None = None) -> Card:
    """A new adapter's card. A trained one (``job``) records the job's lora and training
    sections; a merged or imported one only has peft's config to tell its rank and alpha."""
    if job is not None:
        lora: dict[str, Any] = dataclasses.asdict(job.lora)
        method = method or job.lora.method_label(job.model.quantization)
    else:
        lora = {"r": peft_config.get("r"), "alpha": peft_config.get("lora_alpha"),
                "dropout": peft_config.get("lora_dropout")}
    return Card(
        name=name, base_model=base_model, method=method or "lora", lora=lora, peft_config=peft_config,
        quantization=job.model.quantization if job is not None else None, dataset=dataset or DatasetRef(),
        training=dataclasses.asdict(job.training) if job is not None else None,
        preference=job.preference.of_stage(job.training.stage) if job is not None and job.training.stage != "sft" else None,
        grpo=dataclasses.asdict(job.grpo) if job is not None and job.training.stage == "grpo" else None,
        metrics=metrics or TrainMetrics(),
        parents=list(parents), run_id=run_id, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), merge=merge,
        imported_from=imported_from)


def read_card(folder: Path) -> Card | None:
    """The card in an adapter folder; None when it has none (or not a JSON object)."""
    path = Path(folder) / CARD_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Card.from_dict(data, str(path)) if isinstance(data, dict) else None


def write_card(folder: Path, card: Card, name: str = CARD_NAME) -> None:
    atomic.write_json(Path(folder) / name, card.to_dict())


def card_readme(card: Card) -> str:
    """A short human-readable README.md for the adapter folder."""
    metrics = card.metrics
    lines = [
        f"# {card.name}",
        "",
        f"A {card.method} adapter for `{card.base_model.label}`, trained with LoRA Studio.",
        "",
        f"- rank {card.rank}{'' if card.alpha is None else f', alpha {card.alpha}'}, "
        f"modules: {', '.join(card.target_modules)}",
        f"- dataset: `{card.dataset.path}` ({card.dataset.rows_train} training rows)",
        f"- train loss {_num(metrics.train_loss)}, eval loss {_num(metrics.eval_loss)}, "
        f"perplexity {_num(metrics.perplexity)}",
        *_stage_lines(card),
        "",
        "Load it with `peft.PeftModel.from_pretrained(base_model, this_folder)`.",
        "",
    ]
    return "\n".join(lines)


def _stage_lines(card: Card) -> list[str]:
    """A preference or GRPO stage and its settings (an SFT adapter's README says nothing of stages)."""
    if card.grpo and card.training:
        rewards = ", ".join(str(spec.get("kind", "?")) for spec in card.grpo.get("rewards", []))
        return [f"- stage: grpo (group size {card.grpo.get('num_generations')}, answers up to "
                f"{card.grpo.get('max_completion_length')} tokens, beta {card.grpo.get('beta')}; rewards: {rewards})"]
    if not card.preference or not card.training:
        return []
    settings = ", ".join(f"{key} {value}" for key, value in card.preference.items())
    return [f"- stage: {card.training.get('stage')} ({settings})"]


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"
