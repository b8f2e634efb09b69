"""rsLoRA: LoRA scaled by alpha/sqrt(r) (``lora.use_rslora``)."""

from __future__ import annotations

from studio.core.methods import Method, register

METHOD = register(Method(
    name="rslora", label="rsLoRA", order=20, sets={"lora": {"use_rslora": True}},
    help="rsLoRA: scales by alpha/sqrt(r) instead of alpha/r, so high ranks (64+) stay stable.",
))
