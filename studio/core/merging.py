"""What a merge will produce, before it runs: peft's combination types, their rank, size.

peft's ``add_weighted_adapter`` needs equal ranks for the methods that combine the A
and B matrices directly (linear, ties, dare_*, magnitude_prune), sums them for
``cat`` and takes the largest (or a chosen one) for ``svd``; ties/dare/magnitude_prune
keep a ``density`` share of the weights. The Merge page previews this as the user
picks, and the job is checked against it before a worker starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMBINATIONS = ("linear", "cat", "svd", "ties", "dare_linear", "dare_ties", "magnitude_prune")
WITH_DENSITY = {"ties", "dare_linear", "dare_ties", "magnitude_prune"}
EQUAL_RANKS = {"linear", "ties", "dare_linear", "dare_ties", "magnitude_prune"}
HELP = {
    "linear": "weighted sum of the A and B matrices (equal ranks); fast, a good first try",
    "cat": "concatenates the adapters: exact weighted sum of their updates, rank = sum of ranks",
    "svd": "exact weighted sum of the updates, re-factored by SVD to the largest rank",
    "ties": "TIES: keep the largest `density` share, elect signs, average agreeing weights",
    "dare_linear": "DARE: drop 1 - density of weights at random, rescale, then add",
    "dare_ties": "DARE pruning followed by TIES sign election",
    "magnitude_prune": "keep the largest `density` share of each adapter, then add",
}


@dataclass(frozen=True)
class MergePlan:
    rank: int | None
    target_modules: list[str]
    problems: list[str]


def plan(combination: str, ranks: list[int], modules: list[list[str]], weights: list[float],
         density: float) -> MergePlan:
    problems = []
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
    return MergePlan(rank, union, problems)


def adapter_summary(card: dict[str, Any]) -> tuple[int | None, list[str]]:
    """(rank, target modules) of an adapter from its card.json or adapter_config.json."""
    config = card.get("peft_config") or card
    rank = config.get("r") or (card.get("lora") or {}).get("r")
    modules = config.get("target_modules") or []
    if isinstance(modules, str):
        modules = [modules]
    return (int(rank) if isinstance(rank, int) else None), [str(m) for m in modules]
