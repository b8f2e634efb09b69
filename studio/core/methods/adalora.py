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
from studio.core.methods import Memory, Method, register
from studio.core.methods.lora import input_bytes


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


def _per_token(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """Per token: LoRA's (the dropped-out input's bf16 copy and mask), and the E-scaled rank-r0
    projection that B's product keeps."""
    return input_bytes(fan_in, fan_out, settings) + 2 * initial_rank(settings.r)


def _per_layer(fan_in: int, fan_out: int, settings: LoraSettings) -> float:
    """The orthogonality penalty's two r0 x r0 covariances (A Aᵀ and Bᵀ B, fp32), kept for its backward."""
    return 8 * initial_rank(settings.r) ** 2


# peft's RankAllocator keeps three fp32 tensors the size of every A, E and B: the importance of the
# last step, its moving average and its uncertainty's, beside the optimizer's states.
MEMORY = Memory(per_token=_per_token, per_layer=_per_layer, per_trainable=12)


METHOD = register(Method(
    name="adalora", label="AdaLoRA", order=130, tuner="adalora",
    help="AdaLoRA: starts at 1.5x rank r and prunes to an average of r during the run, keeping rank in the "
         "layers that need it most.",
    peft_type="ADALORA", peft_config="AdaLoraConfig",
    peft_fields={"r": "target_r", "alpha": "lora_alpha", "dropout": "lora_dropout"},
    peft_derived=_derived, schedule=schedule, after_optimizer_step="update_and_allocate",
    step_hook_done="rank_pattern", trainable=_trainable,
    combines=False, compiles=False, cuda_graphs=False, resumes=False,
    # Its forward adds orth_reg_weight x the orthogonality of A and B to the model's loss.
    adds_loss=True, memory=MEMORY,
    fsdp_note="its rank budget scores every layer's whole gradients, which fsdp shards",
))
