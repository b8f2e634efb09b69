"""How far the memory estimate has been from the measured peak, per model family.

A figure without its error invites the user to plan to the last 100 MiB. The band is what the
GPU measurements found, shown beside the figure wherever it is shown ("about 21.4 GiB (measured
within −3%/+4% on Llama-family runs)"), and said plainly for a family never measured.
One table: a family's band is added here when its measurements land in docs/vram_validation.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Band:
    """The measured peak relative to the estimate, (measured - estimate) / estimate, over every
    validated run of ``family``: the real peak was within [low, high] of the figure shown."""
    low: float  # e.g. -0.030: a run used 3% less than estimated
    high: float  # e.g. +0.038: a run used 3.8% more
    family: str  # "Llama": the runs it was measured on
    runs: int

    def describe(self) -> str:
        """"measured within −3%/+4% on Llama-family runs": whole per cent, rounded outwards."""
        low, high = math.floor(self.low * 100), math.ceil(self.high * 100)
        return f"measured within {_signed(low)}/{_signed(high)} on {self.family}-family runs"


# docs/vram_validation.md: the 26 configurations of its main table (H100, scripts/measure_vram.py)
# and the 3 runs through the worker (docs/vram_end_to_end.json), all Llama-shaped; the extremes are
# 7b-seeds-r16-b4-s512-qkvo-ckpt (15.21 GiB measured, 15.67 estimated) and
# 8b-qlora-r16-b2-s2048-ckpt-liger (9.78 measured, 9.42 estimated). tests/core/test_vram_band.py
# recomputes them from the doc's tables.
BANDS: dict[str, Band] = {
    "llama": Band(low=-0.0294, high=+0.0383, family="Llama", runs=29),
}

# model_type -> the name a user knows the family by.
_FAMILY_NAMES = {
    "llama": "Llama", "mistral": "Mistral", "mixtral": "Mixtral", "qwen2": "Qwen2", "qwen2_moe": "Qwen2-MoE",
    "qwen3": "Qwen3", "qwen3_moe": "Qwen3-MoE", "gemma": "Gemma", "gemma2": "Gemma 2", "gemma3": "Gemma 3",
    "gemma3_text": "Gemma 3", "phi": "Phi", "phi3": "Phi-3", "gpt2": "GPT-2", "gpt_neox": "GPT-NeoX",
    "gptj": "GPT-J", "falcon": "Falcon", "olmo": "OLMo", "olmo2": "OLMo 2", "granite": "Granite",
    "stablelm": "StableLM", "starcoder2": "StarCoder2", "opt": "OPT", "bloom": "BLOOM",
}


def family_name(config: dict[str, Any]) -> str:
    """The family of a config.json as a user knows it: "Qwen2", "Gemma 2"; its model_type otherwise."""
    model_type = str(config.get("model_type") or "unknown")
    return _FAMILY_NAMES.get(model_type, model_type)


def band_for(config: dict[str, Any]) -> Band | None:
    """The measured band for this model's family; None where that family was never measured."""
    return BANDS.get(str(config.get("model_type") or ""))


def accuracy(config: dict[str, Any]) -> str:
    """The band in words, or that there is none yet: "not yet measured for Qwen2 models"."""
    band = band_for(config)
    return band.describe() if band else f"not yet measured for {family_name(config)} models"


def _signed(percent: int) -> str:
    return f"+{percent}%" if percent > 0 else f"−{-percent}%" if percent < 0 else "0%"
