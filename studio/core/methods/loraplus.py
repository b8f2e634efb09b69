"""LoRA+: B learns faster than A (``lora.loraplus_lr_ratio``; peft's create_loraplus_optimizer)."""

from __future__ import annotations

from studio.core.methods import Method, register

METHOD = register(Method(
    name="loraplus", label="LoRA+", order=60, sets={"lora": {"loraplus_lr_ratio": 16.0}},  # the paper's ratio
    help="LoRA+: B learns 16x faster than A; often converges faster at no cost.",
))
