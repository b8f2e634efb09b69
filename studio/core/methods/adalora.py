"""AdaLoRA: an SVD-shaped update whose rank is moved to where it matters (peft's AdaLoraConfig).

It starts every layer at 1.5x the rank (peft's 12 -> 8 default) and prunes to an average of
r over a budget schedule of the run's steps: a tenth to warm up the importance scores, the
last quarter at the final ranks. The trainer calls ``update_and_allocate`` after each
optimizer step, while the gradients it scores are still there. A run that continues an
AdaLoRA keeps the ranks it allocated (peft can't reload ranks pruned twice); a stopped
run can't resume from its checkpoint (peft reloads its pruned weights into full-rank layers).
"""

from __future__ import annotations

from typing import Any

from studio.core.jobs import LoraSettings
from studio.core.methods import Method, register


def initial_rank(r: int) -> int:
    return r + r // 2


def _derived(settings: LoraSettings) -> dict[str, Any]:
    return {"init_r": initial_rank(settings.r)}


def schedule(total_steps: int) -> dict[str, Any]:
    if total_steps <= 0:
        raise ValueError("AdaLoRA needs the run's optimizer steps for its rank budget")
    # peft needs tinit < total_step - tfinal; it fixes the ranks at step total_step - tfinal.
    final = max(1, total_steps // 4) if total_steps >= 2 else 0
    return {"total_step": total_steps, "tinit": total_steps // 10, "tfinal": final}


def _trainable(fan_in: int, fan_out: int, settings: LoraSettings) -> int:
    """A (r0 x in), B (out x r0) and the singular values E (r0), at the starting rank r0."""
    return initial_rank(settings.r) * (fan_in + fan_out + 1)


METHOD = register(Method(
    name="adalora", label="AdaLoRA", order=130, tuner="adalora",
    help="AdaLoRA: starts at 1.5x rank r and prunes to an average of r during the run, keeping rank in the "
         "layers that need it most.",
    peft_type="ADALORA", peft_config="AdaLoraConfig",
    peft_fields={"r": "target_r", "alpha": "lora_alpha", "dropout": "lora_dropout"},
    peft_derived=_derived, schedule=schedule, after_optimizer_step="update_and_allocate",
    step_hook_done="rank_pattern", trainable=_trainable,
    combines=False, compiles=False, cuda_graphs=False, resumes=False,
    fsdp_note="its rank budget scores every layer's whole gradients, which fsdp shards",
))
