"""Wrap the base model with a peft adapter built from the job's LoRA settings.

Every variant is peft's own: rsLoRA (``use_rslora``), DoRA (``use_dora``),
PiSSA/OLoRA (``init_lora_weights``), LoRA+ (peft's ``create_loraplus_optimizer``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peft
import torch

from studio.core.jobs import LoraSettings
from studio.core.presets import resolve_target_modules

INIT_WEIGHTS: dict[str, Any] = {
    "default": True,
    "gaussian": "gaussian",
    # "pissa_niter_4" runs a fast randomized SVD: minutes faster than exact
    # PiSSA on large layers, with the same convergence in the paper's tests.
    "pissa": "pissa_niter_4",
    "olora": "olora",
}


def lora_config(settings: LoraSettings, model_config: dict[str, Any]) -> peft.LoraConfig:
    targets = resolve_target_modules(model_config, settings.target_modules)
    return peft.LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        # peft knows "all-linear" only as a plain string, not inside a list.
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        use_rslora=settings.use_rslora,
        use_dora=settings.use_dora,
        init_lora_weights=INIT_WEIGHTS[settings.init],
        bias="none",
        task_type="CAUSAL_LM",
    )


def apply_adapter(model, settings: LoraSettings, gradient_checkpointing: bool, quantized: bool,
                  continue_from: Path | None = None):
    """Freeze the base, add the adapter (or load one to keep training), and prepare
    checkpointing / k-bit training."""
    # Training keeps no KV cache. With one (config.use_cache defaults to on, and only
    # checkpointing turns it off) transformers skips its packed-sequence mask, and the
    # examples of a packed row attend to each other.
    model.config.use_cache = False
    if gradient_checkpointing:
        # Reentrant checkpointing needs inputs that require grad when the embeddings
        # are frozen; non-reentrant does not, and is the one torch recommends.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if quantized:
        # Not prepare_model_for_kbit_training: it upcasts every non-quantized weight to
        # fp32, measured 2x slower and 19% more memory on a 1B QLoRA (GPU_NOTES.md).
        for param in model.parameters():
            param.requires_grad_(False)
    if continue_from is not None:
        return peft.PeftModel.from_pretrained(model, str(continue_from), is_trainable=True)
    config = lora_config(settings, model.config.to_dict())
    peft_model = peft.get_peft_model(model, config)
    return peft_model


def save_initial_adapter(model, settings: LoraSettings, run_dir: Path) -> Path | None:
    """PiSSA/OLoRA rewrite the base weights; keep their starting adapter so the final
    one can be converted into a plain LoRA that applies to the untouched base."""
    if settings.init not in ("pissa", "olora"):
        return None
    folder = Path(run_dir) / "initial_adapter"
    config = model.peft_config["default"]
    init = config.init_lora_weights
    config.init_lora_weights = True  # loading the saved start must not re-run the SVD
    try:
        model.save_pretrained(folder)
    finally:
        config.init_lora_weights = init
    return folder


def save_adapter(model, folder: Path, initial_adapter: Path | None, state_dict: dict | None = None) -> None:
    """``state_dict``: the gathered weights of a sharded (FSDP) model."""
    if state_dict is not None:
        model.save_pretrained(folder, state_dict=state_dict)
    elif initial_adapter is None:
        model.save_pretrained(folder)
    else:
        # Saved as a rank-2r LoRA of (trained - initial), valid on the original base.
        model.save_pretrained(folder, path_initial_model_for_weight_conversion=str(initial_adapter))


def build_optimizer(model, settings: LoraSettings, learning_rate: float, weight_decay: float,
                    optimizer_name: str):
    """LoRA+ optimizer when asked for; else None and the Trainer builds its own."""
    if not settings.loraplus_lr_ratio:
        return None
    if optimizer_name == "adamw_torch":
        optimizer_cls = torch.optim.AdamW
    else:
        import bitsandbytes as bnb  # only with the gpu extra

        optimizer_cls = bnb.optim.PagedAdamW8bit if optimizer_name.startswith("paged") else bnb.optim.AdamW8bit
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model=model,
        optimizer_cls=optimizer_cls,
        lr=learning_rate,
        loraplus_lr_ratio=settings.loraplus_lr_ratio,
        weight_decay=weight_decay,
    )


def trainable_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
