"""QLoRA: LoRA on a base loaded in 4-bit NF4 (``model.quantization``)."""

from __future__ import annotations

from studio.core.methods import Method, register

METHOD = register(Method(
    name="qlora", label="QLoRA 4-bit", order=30, sets={"model": {"quantization": "4bit"}},
    help="QLoRA: the frozen base is loaded in 4-bit NF4, about a quarter of the memory. Needs a CUDA GPU.",
))
