"""OLoRA: LoRA started from a QR decomposition of the weights (``lora.init``)."""

from __future__ import annotations

from studio.core.methods import Method, register

METHOD = register(Method(
    name="olora", label="OLoRA init", order=50, sets={"lora": {"init": "olora"}},
    help="OLoRA: orthonormal initialisation (QR of the weights); steadier early training.",
    fsdp_note="it rewrites the full base weights, which fsdp shards",
))
