"""VeRA: one frozen random pair shared by every layer, two scaling vectors trained per layer
(peft's VeraConfig).

Far fewer parameters than LoRA at the same rank, so VeRA wants a much higher one (the paper
uses 256 and up). The shared projections are saved with the adapter, so it reloads anywhere.
"""

from __future__ import annotations

from studio.core.jobs import LoraSettings
from studio.core.methods import Method, register


def _trainable(fan_in: int, fan_out: int, settings: LoraSettings) -> int:
    """lambda_d (r) and lambda_b (out); the shared A and B are frozen."""
    return settings.r + fan_out


METHOD = register(Method(
    name="vera", label="VeRA", order=120, tuner="vera", uses=("r", "dropout", "target_modules"),
    help="VeRA: one frozen random pair shared by all layers, only two scaling vectors trained per layer: tens of "
         "times fewer parameters than LoRA. Use a high rank (256).",
    peft_type="VERA", peft_config="VeraConfig",
    peft_fields={"r": "r", "dropout": "vera_dropout"},
    trainable=_trainable, combines=False, compiles=False, cuda_graphs=False,
    fsdp_note="its projections are shared by every layer, which fsdp would shard apart",
))
