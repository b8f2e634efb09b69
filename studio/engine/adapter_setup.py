"""Wrap the base model with the peft adapter the job's method names.

core.methods says, as plain data, which peft config each tuner is and what it is built
from; this module builds it. The LoRA variants are peft's own: rsLoRA (``use_rslora``),
DoRA (``use_dora``), PiSSA/OLoRA (``init_lora_weights``), LoRA+ (peft's
``create_loraplus_optimizer``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peft
import torch
import transformers

from studio.core import methods
from studio.core.job_schema import Issue, JobError
from studio.core.jobs import LoraSettings
from studio.core.presets import resolve_target_modules


def adapter_config(settings: LoraSettings, model_config: dict[str, Any], total_steps: int = 0) -> peft.PeftConfig:
    """The peft config of ``settings``' tuner; ``total_steps``: the run's optimizer steps (AdaLoRA's budget)."""
    targets = resolve_target_modules(model_config, settings.target_modules)
    config_class, kwargs = methods.peft_arguments(settings, total_steps)
    return getattr(peft, config_class)(
        # peft knows "all-linear" only as a plain string, not inside a list.
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
        **kwargs,
    )


def apply_adapter(model, settings: LoraSettings, gradient_checkpointing: bool, quantized: bool,
                  continue_from: Path | None = None, total_steps: int = 0):
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
        peft_model = peft.PeftModel.from_pretrained(model, str(continue_from), is_trainable=True)
        config = peft_model.peft_config["default"]
        record = methods.tuner_of_peft_config(config.to_dict())
        if record is not None and record.schedule is not None:  # this run's steps, not the parent's
            for key, value in record.schedule(total_steps).items():
                setattr(config, key, value)
        return peft_model
    try:
        return peft.get_peft_model(model, adapter_config(settings, model.config.to_dict(), total_steps))
    except TypeError as exc:  # peft: "Target module ... is not supported" (GPT-2's Conv1D for LoHa, LoKr, OFT)
        if "not supported" not in str(exc):
            raise
        label = methods.tuner(settings.tuner).label
        raise JobError([Issue("lora.tuner", f"{label} can't adapt this model's layers ({str(exc).split('. ')[0]}); "
                                            "choose another method: LoRA adapts every layer type")]) from None


class _AfterOptimizerStep(transformers.TrainerCallback):
    """Calls a tuner's per-step hook (AdaLoRA's ``update_and_allocate``) after each optimizer
    step, before the gradients it reads are zeroed."""

    def __init__(self, hook):
        self.hook = hook

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.hook(state.global_step)  # the steps done before this one, as peft's examples count


def step_callbacks(model) -> list[transformers.TrainerCallback]:
    """The Trainer callbacks the adapter's tuner needs (core.methods' ``after_optimizer_step``)."""
    config = model.peft_config["default"]
    record = methods.tuner_of_peft_config(config.to_dict())
    if record is None or not record.after_optimizer_step:
        return []
    if record.step_hook_done and getattr(config, record.step_hook_done, None):
        return []  # a continued adapter whose hook has done its work (AdaLoRA's ranks are allocated)
    return [_AfterOptimizerStep(getattr(model.base_model, record.after_optimizer_step))]


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
