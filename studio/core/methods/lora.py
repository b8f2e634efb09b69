"""Plain LoRA: a low-rank update B·A beside each frozen linear layer (peft's LoraConfig).

rsLoRA, DoRA, QLoRA, PiSSA, OLoRA and LoRA+ are fields of this one tuner: their records
only set those fields, and this record turns them into the config.
"""

from __future__ import annotations

from typing import Any

from studio.core.jobs import LoraSettings
from studio.core.methods import Memory, Method, register

INIT_WEIGHTS: dict[str, Any] = {
    "default": True,
    "gaussian": "gaussian",
    # "pissa_niter_4" runs a fast randomized SVD: minutes faster than exact
    # PiSSA on large layers, with the same convergence in the paper's tests.
    "pissa": "pissa_niter_4",
    "olora": "olora",
}


def _derived(settings: LoraSettings) -> dict[str, Any]:
    return {"init_lora_weights": INIT_WEIGHTS[settings.init]}


def _trainable(fan_in: int, fan_out: int, settings: LoraSettings) -> int:
    """A (r x in) and B (out x r); DoRA adds a magnitude per output feature."""
    return settings.r * (fan_in + fan_out) + (fan_out if settings.use_dora else 0)


def input_bytes(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Per token: lora_A's bf16 copy of its (dropped-out) input, 2 bytes a feature, and with dropout
    the mask, 1 byte (measured on an H100 within the fit of docs/vram_measurements.jsonl)."""
    return (3 if settings.dropout > 0 else 2) * fan_in


METHOD = register(Method(
    name="lora", label="LoRA", order=0,
    help="Plain LoRA: a low-rank update B·A beside each frozen layer. The safe default.",
    peft_type="LORA", peft_config="LoraConfig",
    peft_fields={"r": "r", "alpha": "lora_alpha", "dropout": "lora_dropout", "use_rslora": "use_rslora",
                 "use_dora": "use_dora"},
    peft_fixed={"bias": "none"}, peft_derived=_derived, trainable=_trainable,
    memory=Memory(per_token=input_bytes),
))
