"""Sensible starting hyperparameters, and the layers LoRA should adapt, per model.

The numbers come from the tables in ``shared/seeds`` (LoRA hyperparameters by model
size; target modules by task). Target modules are resolved from the model's
config.json alone (its ``model_type``), so no weights are loaded; the same shapes
give the trainable-parameter count that the GUI shows live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Task = Literal["chat", "qa", "reasoning", "completion"]
TargetScope = Literal["qv", "attention", "all"]


@dataclass(frozen=True)
class Preset:
    name: str
    r: int
    alpha: int
    dropout: float
    learning_rate: float
    scope: TargetScope
    note: str


# Rank/alpha/dropout by model size (seeds: "Optimal Settings by Model Size"):
# < 1B: r 4-8, alpha 16-32, dropout 0.05; 1B-7B: r 8-16, alpha 32-64, 0.05;
# 7B-13B: r 16-32, alpha 64, 0.1; > 13B: r 32, alpha 64, 0.1.
# The learning rate stays in the 1e-4..5e-4 band; low ranks take the upper end.
SIZE_PRESETS: tuple[tuple[float, Preset], ...] = (
    (1e9, Preset("small (<1B)", 8, 16, 0.05, 3e-4, "all", "tiny models need every layer and a higher LR")),
    (7.5e9, Preset("medium (1-7B)", 16, 32, 0.05, 2e-4, "all", "the common QLoRA/LoRA starting point")),
    (13.5e9, Preset("large (7-13B)", 16, 32, 0.1, 1e-4, "all", "more dropout: large models overfit small data")),
    (float("inf"), Preset("xl (>13B)", 32, 64, 0.1, 1e-4, "all", "higher rank, lower LR for stability")),
)

# Which layers by task (seeds: "Target Module Selection"): attention-only for Q&A
# and classification, q/k/v/o for generation, everything for complex reasoning.
# Chat defaults to every linear layer, which QLoRA showed matters most.
TASK_SCOPES: dict[str, TargetScope] = {"chat": "all", "qa": "qv", "completion": "attention", "reasoning": "all"}

# Module names per architecture: (attention modules, MLP modules); the first
# attention pair are the query/value projections.
ARCHITECTURE_MODULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "llama": (("q_proj", "v_proj", "k_proj", "o_proj"), ("gate_proj", "up_proj", "down_proj")),
    "gpt2": (("c_attn", "attn.c_proj"), ("c_fc", "mlp.c_proj")),
    "gpt_bigcode": (("c_attn", "attn.c_proj"), ("c_fc", "mlp.c_proj")),
    "gpt_neox": (("query_key_value", "dense"), ("dense_h_to_4h", "dense_4h_to_h")),
    "falcon": (("query_key_value", "dense"), ("dense_h_to_4h", "dense_4h_to_h")),
    "bloom": (("query_key_value", "dense"), ("dense_h_to_4h", "dense_4h_to_h")),
    "opt": (("q_proj", "v_proj", "k_proj", "out_proj"), ("fc1", "fc2")),
    "phi": (("q_proj", "v_proj", "k_proj", "dense"), ("fc1", "fc2")),
    "phi3": (("qkv_proj", "o_proj"), ("gate_up_proj", "down_proj")),
    "starcoder2": (("q_proj", "v_proj", "k_proj", "o_proj"), ("c_fc", "c_proj")),
}
# Llama-shaped families share the llama names.
for _name in ("mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2",
              "granite", "cohere", "smollm3", "deepseek_v2", "internlm2", "yi", "exaone"):
    ARCHITECTURE_MODULES.setdefault(_name, ARCHITECTURE_MODULES["llama"])
# Mixture-of-experts MLPs are adapted per expert in peft; start with attention only.
MOE_TYPES = {"mixtral", "deepseek_v2"}


def preset_for(num_parameters: int | None, task: str = "chat") -> Preset:
    """The size preset for a model, with the target scope of ``task``."""
    size = num_parameters or 0
    preset = next(p for limit, p in SIZE_PRESETS if size < limit)
    scope = TASK_SCOPES.get(task, preset.scope)
    return Preset(preset.name, preset.r, preset.alpha, preset.dropout, preset.learning_rate, scope, preset.note)


def all_presets() -> list[Preset]:
    return [p for _limit, p in SIZE_PRESETS]


def resolve_target_modules(config: dict[str, Any], requested: list[str] | None = None,
                           scope: TargetScope = "all") -> list[str]:
    """Concrete module names for peft from a config.json dict.

    ``requested`` may be ``["auto"]`` (use ``scope``), ``["all-linear"]`` (peft's own
    choice) or explicit names, returned unchanged. Unknown architectures fall back
    to ``all-linear``, which peft resolves by inspecting the loaded model.
    """
    if requested and requested not in (["auto"], ["all-linear"]):
        return list(requested)
    if requested == ["all-linear"]:
        return ["all-linear"]
    modules = ARCHITECTURE_MODULES.get(str(config.get("model_type", "")))
    if modules is None:
        return ["all-linear"]
    attention, mlp = modules
    if scope == "qv":
        return list(attention[:2]) if len(attention) > 2 else list(attention[:1])
    if scope == "attention" or config.get("model_type") in MOE_TYPES:
        return list(attention)
    return list(attention) + list(mlp)


def available_modules(config: dict[str, Any]) -> list[str]:
    """Every module name the GUI can offer as a checkbox for this architecture."""
    modules = ARCHITECTURE_MODULES.get(str(config.get("model_type", "")))
    return list(modules[0] + modules[1]) if modules else []


def linear_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]] | None:
    """(in_features, out_features) of each adaptable linear layer in one block.

    Known for llama-shaped models; None elsewhere (callers then say "unknown").
    """
    if ARCHITECTURE_MODULES.get(str(config.get("model_type", ""))) is not ARCHITECTURE_MODULES["llama"]:
        return None
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    inter = int(config["intermediate_size"])
    return {
        "q_proj": (hidden, heads * head_dim),
        "k_proj": (hidden, kv_heads * head_dim),
        "v_proj": (hidden, kv_heads * head_dim),
        "o_proj": (heads * head_dim, hidden),
        "gate_proj": (hidden, inter),
        "up_proj": (hidden, inter),
        "down_proj": (inter, hidden),
    }


def count_lora_parameters(config: dict[str, Any], target_modules: list[str], r: int,
                          use_dora: bool = False) -> int | None:
    """Trainable parameters LoRA adds: r * (in + out) per adapted layer (+ out for DoRA)."""
    shapes = linear_shapes(config)
    if shapes is None:
        return None
    modules = resolve_target_modules(config, target_modules)
    if modules == ["all-linear"]:
        modules = list(shapes)
    per_block = 0
    for name in modules:
        if name not in shapes:
            return None
        fan_in, fan_out = shapes[name]
        per_block += r * (fan_in + fan_out) + (fan_out if use_dora else 0)
    return per_block * int(config["num_hidden_layers"])
