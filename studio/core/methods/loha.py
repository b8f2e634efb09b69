"""LoHa (LyCORIS): the update is the Hadamard product of two low-rank pairs (peft's LoHaConfig).

Two rank-r pairs multiplied element-wise reach rank up to r², for twice LoRA's parameters.
An 8-bit base works, a 4-bit one does not; add_weighted_adapter is LoRA's alone.
"""

from __future__ import annotations

from studio.core.jobs import LoraSettings
from studio.core.methods import (
    LYCORIS_QUANTIZATION_NOTE,
    LYCORIS_QUANTIZATIONS,
    Memory,
    Method,
    register,
)


def _trainable(fan_in: int, fan_out: int, settings: LoraSettings) -> int:
    """hada_w1_a, hada_w2_a (out x r) and hada_w1_b, hada_w2_b (r x in)."""
    return 2 * settings.r * (fan_in + fan_out)


def input_bytes(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Per token: the update is applied as ``F.linear(x, delta)``, which keeps autocast's bf16 copy of
    its input (peft casts x to the fp32 update's dtype first; rank dropout drops rows of the update,
    not of x, so no mask)."""
    return 2 * fan_in


def update_bytes(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Per layer: peft builds the whole (out x in) update every forward and ``F.linear`` keeps its
    bf16 cast until the backward pass, batch or no batch."""
    return 2 * fan_in * fan_out


def working_bytes(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Building the update, and its backward (HadaWeight): fp32 (out x in) products, the scaled
    gradient and a temporary, about four at once."""
    return 16 * fan_in * fan_out


MEMORY = Memory(per_token=input_bytes, per_layer=update_bytes, working=working_bytes)


METHOD = register(Method(
    name="loha", label="LoHa", order=100, tuner="loha",
    help="LoHa: the update is the Hadamard product of two rank-r pairs; higher effective rank for 2x LoRA's "
         "parameters. Not on a 4-bit base.",
    peft_type="LOHA", peft_config="LoHaConfig",
    # LyCORIS drops whole ranks of the update: its nearest kin of LoRA's input dropout.
    peft_fields={"r": "r", "alpha": "alpha", "dropout": "rank_dropout"},
    trainable=_trainable, combines=False, compiles=False, cuda_graphs=False, memory=MEMORY,
    quantization=LYCORIS_QUANTIZATIONS, quantization_note=LYCORIS_QUANTIZATION_NOTE,
))
