"""What to tell a user whose job does not fit a card: the changes that make it fit, or, when none
does, that plainly, once, with the smallest common card and the fewest of their cards (FSDP) that
would hold it.

A list of ever more stacked changes each "still too large" leaves the user where they started;
70B QLoRA on a 24 GiB card needs 36.8 GiB for its 4-bit weights alone, and the useful answer is a
48 GiB card. ``lora-studio estimate``, the Train page's memory panel and core.memory_fit (Start's
check, ``lora-studio train``) all word it through ``Advice.lines``, so the three say the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from studio.core import methods, vram, vram_families
from studio.core.articles import a_or_an
from studio.core.jobs import TrainJob

MAX_FSDP_GPUS = 8  # one machine's worth


@dataclass(frozen=True)
class Card:
    """A memory size that cards are sold with, and cards that have it."""
    gib: int
    names: str

    @property
    def bytes(self) -> int:
        return self.gib * vram.GIB

    @property
    def label(self) -> str:
        """As the Train page's card list shows it: "48 GiB (RTX 6000 Ada, A6000, L40S)"."""
        return f"{self.gib} GiB ({self.names})"

    def phrase(self) -> str:
        """In a sentence: "a 48 GiB card (RTX 6000 Ada, A6000, L40S)", "an 80 GiB card (A100, H100)"."""
        return a_or_an(f"{self.gib} GiB card ({self.names})")


# Common NVIDIA cards by memory, smallest first: the Train page's list and the "a larger card" answer.
# Their names must stay readable by core.step_time.gpu_rate (the slowest named sets the speed).
CARDS: tuple[Card, ...] = (
    Card(8, "RTX 4060"), Card(12, "RTX 3060"), Card(16, "RTX 4080, T4"), Card(24, "RTX 3090/4090, A10, L4"),
    Card(32, "RTX 5090"), Card(40, "A100"), Card(48, "RTX 6000 Ada, A6000, L40S"), Card(80, "A100, H100"),
    Card(94, "H100 NVL, RTX PRO 6000"), Card(141, "H200"), Card(180, "B200"),
)


@dataclass(frozen=True)
class Advice:
    """Changes that fit, or (``least`` set) why nothing does and where the job would fit instead."""
    capacity: int
    budget: int  # what "fits" is held against: vram.budget_bytes
    suggestions: tuple[vram.Suggestion, ...] = ()
    least: vram.Suggestion | None = None  # nothing fits one card: the least the job can be made to need
    weights: int = 0  # the least's base weights, said when they alone are past the budget
    quantization: str = "none"
    unquantized_experts: bool = False  # a mixture's experts stay 16-bit under 4-bit loading
    larger: Card | None = None  # the smallest common card the least fits
    as_is: Card | None = None  # the smallest common card the job fits unchanged
    gpus: int = 0  # the fewest cards of this size that hold it with FSDP; 0: none up to MAX_FSDP_GPUS
    gpus_need_changes: bool = False
    no_fsdp: str = ""  # why more cards would not help
    gpu: bool = True  # False: held against RAM, where no card or FSDP is said

    @property
    def nothing_fits(self) -> bool:
        return self.least is not None

    def lines(self, where: str, cli: bool = False) -> list[str]:
        """Plain sentences for a job nothing makes fit ``where`` ("one 24 GiB card", "one NVIDIA H200");
        ``cli``: name flags (``--gpus``), else the Train page's fields. Empty when something fits."""
        least = self.least
        if least is None:
            return []
        four_bit = self.quantization == "4bit" and not self.unquantized_experts
        experts = " (its experts stay 16-bit: 4-bit loading quantizes linear layers only)" if (
            self.unquantized_experts and self.quantization != "none") else ""
        weights = (f"the {'4-bit ' if four_bit else ''}base weights alone are "
                   f"{vram.format_bytes(self.weights)}{experts}, and " if self.weights > self.budget else "")
        changes = changes_phrase(least)
        said = (f"No setting fits {where}: {weights}the least this job can need is about "
                f"{vram.format_bytes(least.estimate.total)}" + (f", with {changes}" if changes else ""))
        if least.estimate.total <= self.capacity:
            said += (f", more than the {vram.format_bytes(self.budget)} of the card it is safe to plan for (the "
                     "estimate's error, and other programs' memory)")
        lines = [said + "."]
        if not self.gpu:
            return lines
        if self.larger is not None:
            where = f"It would fit {self.larger.phrase()}" + (" with those changes" if changes else "")
            if self.as_is is not None and self.as_is != self.larger:
                where += f", or {self.as_is.phrase()} as it is"
            lines.append(where + ".")
        else:
            lines.append(f"It is larger than any one card here (the largest: {CARDS[-1].phrase()}).")
        if self.gpus:
            how = (f"--gpus {','.join(map(str, range(self.gpus)))} --strategy fsdp" if cli else
                   f"tick {self.gpus} GPUs and choose the fsdp strategy")
            lines.append(f"Or {self.gpus} of these cards with FSDP ({how})"
                         + (", with those changes." if self.gpus_need_changes and changes else "."))
        elif self.no_fsdp:
            lines.append(f"More of these cards with FSDP would not hold it either: {self.no_fsdp}.")
        return lines


def changes_phrase(suggestion: vram.Suggestion) -> str:
    """A stacked suggestion's changes as a phrase: "gradient checkpointing, batch 1 x accumulation 4
    and 8-bit AdamW"."""
    parts = [_phrase(label) for label in suggestion.label.split(" + ") if label]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)


def advise(job: TrainJob, config: dict[str, Any], capacity: int, *, gpu: bool = True, limit: int = 4,
           **options: Any) -> Advice:
    """The advice for ``job`` on a card (``gpu``) or in RAM of ``capacity`` bytes. ``options`` go
    to vram.suggest and vram.estimate (``measure`` and ``keep`` as vram.suggest takes them)."""
    budget = vram.budget_bytes(job, capacity)
    measure = options.get("measure") or (lambda found: found.total)
    estimate_options = {k: v for k, v in options.items() if k not in ("measure", "keep")}
    current = vram.estimate(job, config, **estimate_options)
    if vram.fits(measure(current), job, capacity):
        return Advice(capacity, budget)
    suggestions = vram.suggest(job, config, capacity, limit=limit, **options)
    if suggestions:
        return Advice(capacity, budget, tuple(suggestions))
    least = vram.lightest(job, config, **options) or vram.Suggestion("", {}, current, False)
    if not gpu:
        return Advice(capacity, budget, least=least, gpu=False)
    lightest = vram.edited(job, least.edits)
    unlimited = replace(lightest, training=replace(lightest.training, memory_limit_gib=0))
    larger = _smallest_card(least.estimate.total, unlimited, capacity)
    as_is = _smallest_card(current.total, replace(job, training=replace(job.training, memory_limit_gib=0)), capacity)
    gpus, need_changes, no_fsdp = _fsdp(job, lightest, config, capacity, estimate_options)
    return Advice(capacity, budget, least=least, weights=least.estimate.part("weights").bytes,
                  quantization=lightest.model.quantization,
                  unquantized_experts=vram_families.expert_parameters(config) > 0, larger=larger, as_is=as_is, gpus=gpus,
                  gpus_need_changes=need_changes, no_fsdp=no_fsdp)


def _smallest_card(total: int, job: TrainJob, capacity: int) -> Card | None:
    return next((card for card in CARDS if card.bytes > capacity and vram.fits(total, job, card.bytes)), None)


def _fsdp(job: TrainJob, lightest: TrainJob, config: dict[str, Any], capacity: int,
          options: dict[str, Any]) -> tuple[int, bool, str]:
    """(the fewest cards of ``capacity`` that hold the job with FSDP, whether it needs the lightest's
    changes there, why none does)."""
    if blocked := next((m for m in methods.in_use(job) if m.fsdp_note), None):
        return 0, False, f"FSDP can't train {blocked.label}: {blocked.fsdp_note}"
    already = int(options.get("gpus") or 1)
    sharded = {**options, "strategy": "fsdp"}
    for gpus in range(max(2, already + 1), MAX_FSDP_GPUS + 1):
        for candidate, changed in ((job, False), (lightest, True)):
            if vram.fits(vram.estimate(candidate, config, **{**sharded, "gpus": gpus}).total, job, capacity):
                return gpus, changed, ""
    widest = vram.estimate(lightest, config, **{**sharded, "gpus": MAX_FSDP_GPUS})
    loading = next((p.bytes for p in widest.parts if p.key == "loading"), 0)
    if loading:
        whole = vram.estimate(lightest, config, **{**options, "gpus": 1, "strategy": "single"}).part("weights").bytes
        return 0, False, (f"each card loads the whole model ({vram.format_bytes(whole)}) before FSDP shards it")
    return 0, False, f"even {MAX_FSDP_GPUS} would need about {vram.format_bytes(widest.total)} each"


def _phrase(label: str) -> str:
    """"Enable gradient checkpointing (~25% slower)" -> "gradient checkpointing"; "QLoRA: load the base
    in 4-bit" -> "QLoRA"; "Max length 256" -> "max length 256"."""
    text = label.split(" (")[0].split(":")[0].removeprefix("Enable ")
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text
