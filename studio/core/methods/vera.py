"""VeRA: one frozen random pair shared by every layer, two scaling vectors trained per layer
(peft's VeraConfig).

Far fewer parameters than LoRA at the same rank, so VeRA wants a much higher one (the paper
uses 256 and up). The shared projections are saved with the adapter, so it reloads anywhere.
"""

from __future__ import annotations

from studio.core.jobs import LoraSettings
from studio.core.methods import Memory, Method, PresetChange, register


def _trainable(fan_in: int, fan_out: int, settings: LoraSettings) -> int:
    """lambda_d (r) and lambda_b (out); the shared A and B are frozen."""
    return settings.r + fan_out


def _per_token(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Per token, as peft's forward keeps them: the dropout mask and autocast's bf16 copy of the input
    for the shared A, the rank-sized projection and its lambda_d-scaled copy for B, and B's output for
    lambda_b (VeRA, unlike LoRA, keeps an output-sized activation)."""
    return (3 if settings.dropout > 0 else 2) * fan_in + 4 * settings.r + 2 * fan_out


def _per_layer(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Each layer slices its part of the shared A (r x in) and B (out x r); autocast casts the slices
    to bf16 per layer (a slice is no leaf, so its cast isn't cached) and keeps them for the backward."""
    return 2 * settings.r * (fan_in + fan_out)


def _shared(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """The frozen random A and B, once, in fp32, sized for the largest input and output adapted."""
    return 4 * settings.r * (fan_in + fan_out)


METHOD = register(Method(
    name="vera", label="VeRA", order=120, tuner="vera", uses=("r", "dropout", "target_modules"),
    help="VeRA: one frozen random pair shared by all layers, only two scaling vectors trained per layer: tens of "
         "times fewer parameters than LoRA. Use a high rank (256).",
    peft_type="VERA", peft_config="VeraConfig",
    peft_fields={"r": "r", "dropout": "vera_dropout"},
    trainable=_trainable, combines=False, compiles=False, cuda_graphs=False,
    memory=Memory(per_token=_per_token, per_layer=_per_layer, shared=_shared),
    # peft's VeraConfig defaults to r 256 ("higher values than LoRA ranks"); the paper trains its vectors at
    # about ten times LoRA's learning rate. A size preset's r 8-32 at LoRA's rate barely moves the loss.
    preset=PresetChange(r=256, learning_rate_factor=10.0,
                        why="VeRA trains two vectors per layer: peft's rank 256, ten times LoRA's rate"),
    fsdp_note="its projections are shared by every layer, which fsdp would shard apart",
))
