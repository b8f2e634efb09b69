"""OFT: a learned block-diagonal rotation of each layer's inputs (peft's OFTConfig).

A rotation keeps the angles between the pretrained weights' neurons. Here ``lora.r`` is
the block size (peft's ``oft_block_size``): larger blocks rotate more freely and train more
parameters; peft moves it to the nearest divisor of each layer's input size.
"""

from __future__ import annotations

from studio.core.jobs import LoraSettings
from studio.core.methods import Memory, Method, PresetChange, register


def block_size(fan_in: int, wanted: int) -> int:
    """peft's ``OFTLayer.adjust_oft_parameters``: the nearest divisor of ``fan_in``, the
    smaller one on a tie."""
    if wanted >= fan_in:
        return fan_in
    higher = wanted
    while higher <= fan_in and fan_in % higher:
        higher += 1
    lower = wanted
    while lower > 1 and fan_in % lower:
        lower -= 1
    return lower if wanted - lower <= higher - wanted else higher


def _trainable(fan_in: int, fan_out: int, settings: LoraSettings) -> int:
    """One skew-symmetric block's upper triangle, b(b-1)/2, for each of in/b blocks."""
    b = block_size(fan_in, settings.r)
    return (fan_in // b) * (b * (b - 1) // 2)


def _per_token(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Per token: the rotation's einsum keeps autocast's bf16 copy of the input (peft casts it to fp32
    first); the rotated input feeds the frozen base layer, which keeps nothing for it."""
    return 2 * fan_in


def _per_layer(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Each forward rebuilds the in/b rotation blocks (b x b) from the skew-symmetric Q by peft's
    Cayley-Neumann series (5 terms): its three batched products keep autocast's bf16 copies (Q twice
    for Q², Q² and Q for Q³, Q³ and Q for Q⁴) and the rotation's bf16 cast for the input's product:
    7 bf16 tensors, 14 bytes per block entry, until the backward pass."""
    return 14 * fan_in * block_size(fan_in, settings.r)


METHOD = register(Method(
    name="oft", label="OFT", order=140, tuner="oft", uses=("r", "target_modules"),
    help="OFT: learns a block-diagonal rotation of each layer's inputs (r = block size), keeping the pretrained "
         "weights' geometry.",
    peft_type="OFT", peft_config="OFTConfig",
    peft_fields={"r": "oft_block_size"},
    trainable=_trainable, combines=False, compiles=False, cuda_graphs=False,
    memory=Memory(per_token=_per_token, per_layer=_per_layer),
    # r is the block size here: peft's OFTConfig defaults to oft_block_size 32, where a size preset's
    # LoRA rank (8-16) would rotate only 8- or 16-wide blocks.
    preset=PresetChange(r=32, why="OFT's r is its block size: peft's default, 32"),
))
