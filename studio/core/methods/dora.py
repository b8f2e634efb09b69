"""DoRA: LoRA with the weight's magnitude and direction learned apart (``lora.use_dora``)."""

from __future__ import annotations

from studio.core.methods import Method, register

METHOD = register(Method(
    name="dora", label="DoRA", order=10, sets={"lora": {"use_dora": True}},
    help="DoRA: learns magnitude and direction apart; better at low rank, about 20% slower.",
))
