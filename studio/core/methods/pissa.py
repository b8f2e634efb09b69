"""PiSSA: LoRA started from the weights' principal singular vectors (``lora.init``)."""

from __future__ import annotations

from studio.core.methods import Method, register

METHOD = register(Method(
    name="pissa", label="PiSSA init", order=40, sets={"lora": {"init": "pissa"}},
    help="PiSSA: starts the adapter from the principal singular vectors; converges faster. "
         "Needs the full-precision base.",
    quantization=("none",), quantization_note="needs the full-precision weights; it can't start from a quantized base",
    fsdp_note="it rewrites the full base weights, which fsdp shards",
))
