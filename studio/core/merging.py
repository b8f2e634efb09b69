"""What a merge will produce, before it runs: peft's combination types, their rank, size.

peft's ``add_weighted_adapter`` needs equal ranks for the methods that combine the A
and B matrices directly (linear, ties, dare_*, magnitude_prune), sums them for
``cat`` and takes the largest (or a chosen one) for ``svd``; ties/dare/magnitude_prune
keep a ``density`` share of the weights. The Merge page previews this as the user
picks, and the job is checked against it before a worker starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio.core import methods
from studio.core.cards import Card, read_card

COMBINATIONS = ("linear", "cat", "svd", "ties", "dare_linear", "dare_ties", "magnitude_prune")
WITH_DENSITY = {"ties", "dare_linear", "dare_ties", "magnitude_prune"}
EQUAL_RANKS = {"linear", "ties", "dare_linear", "dare_ties", "magnitude_prune"}
HELP = {
    "linear": "weighted sum of the A and B matrices (equal ranks); fast, a good first try",
    "cat": "concatenates the adapters: exact weighted sum of their updates, rank = sum of ranks",
    "svd": "exact weighted sum of the updates, re-factored by SVD to the largest rank",
    "ties": "TIES: keep the largest density share, elect signs, average agreeing weights",
    "dare_linear": "DARE: drop 1 - density of weights at random, rescale, then add",
    "dare_ties": "DARE pruning followed by TIES sign election",
    "magnitude_prune": "keep the largest density share of each adapter, then add",
}


@dataclass(frozen=True)
class MergePlan:
    rank: int | None
    target_modules: list[str]
    problems: list[str]
    warnings: list[str] = field(default_factory=list)  # it runs, but not as one might expect


def plan(combination: str, ranks: list[int], modules: list[list[str]], weights: list[float],
         density: float, tuners: list[str] | None = None, dora: list[bool] | None = None) -> MergePlan:
    """``tuners``: each adapter's (``adapter_tuner``); those peft can't combine are refused.
    ``dora``: whether each is a DoRA adapter (``adapter_uses_dora``); a mix is warned about."""
    problems = []
    warnings = []
    if dora and any(dora) and len(dora) > 1:
        # peft's add_weighted_adapter combines the A and B matrices only: the new adapter takes the
        # first one's config (use_dora with it) and starts its magnitudes from the base weights.
        result = "a DoRA adapter" if dora[0] else "a plain LoRA adapter"
        mixed = "mixes DoRA and plain LoRA adapters" if not all(dora) else "merges DoRA adapters"
        warnings.append(f"this {combination} merge {mixed}: peft combines only their A and B matrices, so the "
                        f"DoRA magnitudes they learned are left out and the result is {result} (as the first "
                        "one is); compare it with its parents before relying on it")
    refused = sorted({name for name in tuners or [] if name not in methods.METHODS or not methods.METHODS[name].combines})
    if refused:
        able = ", ".join(m.label for m in methods.METHODS.values() if m.is_tuner and m.combines)
        problems.append(f"{', '.join(refused)} adapters can't be merged with others: peft's add_weighted_adapter "
                        f"combines {able} adapters only (each can still be exported into its base)")
    if combination not in COMBINATIONS:
        problems.append(f"combination must be one of {', '.join(COMBINATIONS)}, got {combination!r}")
    if len(ranks) < 2:
        problems.append("pick at least two adapters to merge")
    if len(weights) != len(ranks):
        problems.append(f"give one weight per adapter ({len(ranks)}), got {len(weights)}")
    if combination in WITH_DENSITY and not 0.0 < density <= 1.0:
        problems.append(f"density must be in (0, 1] for {combination}, got {density}")
    if combination in EQUAL_RANKS and len(set(ranks)) > 1:
        problems.append(f"{combination} needs adapters of one rank (got {', '.join(map(str, ranks))}); "
                        "use cat or svd for different ranks")
    rank: int | None
    if not ranks:
        rank = None
    elif combination == "cat":
        rank = sum(ranks)
    elif combination == "svd":
        rank = max(ranks)
    else:
        rank = ranks[0]
    union = sorted({m for group in modules for m in group})
    return MergePlan(rank, union, problems, warnings)


def adapter_uses_dora(folder: Path) -> bool:
    """Whether an adapter folder is DoRA (``use_dora`` in its adapter_config.json)."""
    from studio.core.library.store import read_adapter_config

    return bool(read_adapter_config(folder).get("use_dora"))


def adapter_tuner(folder: Path) -> str:
    """The tuner of an adapter folder (lora, loha, ...), from its adapter_config.json."""
    from studio.core.library.store import read_adapter_config

    config = read_adapter_config(folder)
    record = methods.tuner_of_peft_config(config)
    return record.name if record is not None else str(config.get("peft_type") or "unknown").lower()


def adapter_summary(folder: Path) -> tuple[int | None, list[str]]:
    """(rank, target modules) of an adapter folder: from its card, else its adapter_config.json."""
    from studio.core.library.store import read_adapter_config

    card = read_card(folder) or Card(peft_config=read_adapter_config(folder))
    return card.rank, card.target_modules
