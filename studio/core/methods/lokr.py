"""LoKr (LyCORIS): the update is a Kronecker product of two small matrices (peft's LoKrConfig).

Each dimension is split into two factors near its square root (peft's ``factorization``):
the first Kronecker factor is a full small matrix, the second a rank-r pair, or full where
r reaches half its size. An 8-bit base works, a 4-bit one does not; add_weighted_adapter
is LoRA's alone.
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
from studio.core.methods.loha import input_bytes, update_bytes


def factorization(dimension: int) -> tuple[int, int]:
    """(m, n), m <= n, m * n = dimension, m the largest divisor up to the square root: peft's
    ``lokr.layer.factorization`` with its default factor (-1), which the count must match."""
    m = max(d for d in range(1, int(dimension ** 0.5) + 1) if dimension % d == 0)
    return m, dimension // m


def _trainable(fan_in: int, fan_out: int, settings: LoraSettings) -> int:
    in_m, in_n = factorization(fan_in)
    out_l, out_k = factorization(fan_out)
    full_second = settings.r >= max(out_k, in_n) / 2
    second = out_k * in_n if full_second else settings.r * (out_k + in_n)
    return out_l * in_m + second


def _working(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """The Kronecker product in fp32 and its scaled copy while building; the fp32 gradient of the
    update in its backward: about three (out x in) fp32 tensors at once."""
    return 12 * fan_in * fan_out


# Applied like LoHa's: the whole update is built each forward and kept in bf16 for the backward.
MEMORY = Memory(per_token=input_bytes, per_layer=update_bytes, working=_working)


METHOD = register(Method(
    name="lokr", label="LoKr", order=110, tuner="lokr",
    help="LoKr: the update is a Kronecker product of a small full matrix and a rank-r one; very few "
         "parameters. Not on a 4-bit base.",
    peft_type="LOKR", peft_config="LoKrConfig",
    peft_fields={"r": "r", "alpha": "alpha", "dropout": "rank_dropout"},
    trainable=_trainable, combines=False, compiles=False, cuda_graphs=False, memory=MEMORY,
    quantization=LYCORIS_QUANTIZATIONS, quantization_note=LYCORIS_QUANTIZATION_NOTE,
))
