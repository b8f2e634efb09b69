"""DoRA: LoRA with the weight's magnitude and direction learned apart (``lora.use_dora``)."""

from __future__ import annotations

from studio.core.jobs import LoraSettings
from studio.core.methods import Memory, Method, register

BYTES_PER_OUTPUT = 6  # per token, per output feature of each DoRA layer


def _outputs(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Per token: DoRA also keeps the base and LoRA outputs and their magnitude-scaled sum, 6 bytes
    per output feature, fitted to its two H100 measurements (4 from the bf16 outputs alone fell 8.5%
    short on a 1B run without checkpointing)."""
    return BYTES_PER_OUTPUT * fan_out


METHOD = register(Method(
    name="dora", label="DoRA", order=10, sets={"lora": {"use_dora": True}},
    help="DoRA: learns magnitude and direction apart; better at low rank, about 20% slower.",
    # compile = auto leaves it off: compiled DoRA layers were never measured faster (core.compile_choice).
    compiles=False, memory=Memory(per_token=_outputs),
))
