"""Sensible starting hyperparameters, and the layers LoRA should adapt, per model.

The numbers come from the tables in ``shared/seeds`` (LoRA hyperparameters by model
size; target modules by task). Target modules are resolved from the model's
config.json alone (its ``model_type``), so no weights are loaded; the same shapes
give the trainable-parameter count that the GUI shows live.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from studio.core import methods
from studio.core.jobs import LoraSettings

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


def for_method(preset: Preset, method: str, config: dict[str, Any] | None = None) -> Preset:
    """``preset`` for ``method`` (a core.methods name): its record's rank and learning rate where they
    mean something else than LoRA's (VeRA's rank 256 and ten times the rate), else the preset itself.
    ``config``: the model's config.json, whose narrowest layer caps the record's rank (above it an
    update can't use it: core.magnitudes would call it unusual)."""
    change = methods.preset_change(method) if method in methods.METHODS else methods.PresetChange()
    if not change:
        return preset
    r = change.r or preset.r
    shapes = linear_shapes(config) if change.r and config is not None else None
    if shapes:
        r = min(r, *(min(fan_in, fan_out) for fan_in, fan_out in shapes.values()))
    return dataclasses.replace(preset, r=r,
                               learning_rate=float(f"{preset.learning_rate * change.learning_rate_factor:.6g}"),
                               note=f"{preset.note}; {change.why}" if change.why else preset.note)


PRESET_FIELDS = ("lora.r", "lora.alpha", "lora.dropout", "training.learning_rate")  # what for_method may change


def preset_fields(preset: Preset) -> dict[str, Any]:
    """The fields of ``PRESET_FIELDS`` a preset sets, as dotted names."""
    return {"lora.r": preset.r, "lora.alpha": float(preset.alpha), "lora.dropout": preset.dropout,
            "training.learning_rate": preset.learning_rate}


def method_rechosen(values: dict[str, Any], before: str, after: str,
                    config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields to change when a job's method goes from ``before`` to ``after``: where its rank,
    alpha, dropout and learning rate are still a size preset's for ``before`` (the defaults are the
    medium one's), that preset's for ``after``; nothing where the person set their own. ``config``:
    the model's, as for ``for_method``."""
    for preset in all_presets():
        if _same(values, preset_fields(for_method(preset, before, config))):
            wanted = preset_fields(for_method(preset, after, config))
            return {name: value for name, value in wanted.items() if values.get(name) != value}
    return {}


def _same(values: dict[str, Any], preset: dict[str, Any]) -> bool:
    try:
        return all(math.isclose(float(values[name]), float(value), rel_tol=1e-6) for name, value in preset.items())
    except (KeyError, TypeError, ValueError):
        return False


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


def _int(config: dict[str, Any], *keys: str, default: int | None = None) -> int:
    for key in keys:
        if config.get(key) is not None:
            return int(config[key])
    if default is None:
        raise KeyError(keys[0])
    return default


def _llama_shapes(c: dict[str, Any]) -> dict[str, tuple[int, int]]:
    hidden = _int(c, "hidden_size")
    heads = _int(c, "num_attention_heads")
    kv = _int(c, "num_key_value_heads", default=heads)
    head_dim = _int(c, "head_dim", default=hidden // heads)
    inter = _int(c, "intermediate_size")
    shapes = {"q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv * head_dim),
              "v_proj": (hidden, kv * head_dim), "o_proj": (heads * head_dim, hidden)}
    if c.get("model_type") not in MOE_TYPES:  # experts are named differently; auto skips them
        shapes.update(gate_proj=(hidden, inter), up_proj=(hidden, inter), down_proj=(inter, hidden))
    return shapes


def _gpt2_shapes(c: dict[str, Any]) -> dict[str, tuple[int, int]]:
    hidden = _int(c, "n_embd", "hidden_size")
    inner = _int(c, "n_inner", default=4 * hidden)
    qkv = hidden + 2 * (hidden // _int(c, "n_head")) if c.get("multi_query") else 3 * hidden
    return {"c_attn": (hidden, qkv), "attn.c_proj": (hidden, hidden), "c_fc": (hidden, inner),
            "mlp.c_proj": (inner, hidden)}


def _fused_qkv_shapes(c: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """GPT-NeoX, Falcon and BLOOM: one query_key_value projection, a 4h MLP."""
    hidden = _int(c, "hidden_size", "n_embed")
    heads = _int(c, "num_attention_heads", "n_head")
    head_dim = hidden // heads
    kv = heads
    if c.get("model_type") == "falcon":
        if c.get("new_decoder_architecture"):
            kv = _int(c, "num_kv_heads", default=heads)
        elif c.get("multi_query", True):
            kv = 1
    inner = _int(c, "intermediate_size", "ffn_hidden_size", default=4 * hidden)
    return {"query_key_value": (hidden, (heads + 2 * kv) * head_dim), "dense": (hidden, hidden),
            "dense_h_to_4h": (hidden, inner), "dense_4h_to_h": (inner, hidden)}


def _opt_shapes(c: dict[str, Any]) -> dict[str, tuple[int, int]]:
    hidden, ffn = _int(c, "hidden_size"), _int(c, "ffn_dim")
    return {"q_proj": (hidden, hidden), "k_proj": (hidden, hidden), "v_proj": (hidden, hidden),
            "out_proj": (hidden, hidden), "fc1": (hidden, ffn), "fc2": (ffn, hidden)}


def _phi_shapes(c: dict[str, Any]) -> dict[str, tuple[int, int]]:
    hidden, inter = _int(c, "hidden_size"), _int(c, "intermediate_size")
    heads = _int(c, "num_attention_heads")
    kv = _int(c, "num_key_value_heads", default=heads)
    head_dim = hidden // heads
    return {"q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv * head_dim),
            "v_proj": (hidden, kv * head_dim), "dense": (heads * head_dim, hidden),
            "fc1": (hidden, inter), "fc2": (inter, hidden)}


def _phi3_shapes(c: dict[str, Any]) -> dict[str, tuple[int, int]]:
    hidden, inter = _int(c, "hidden_size"), _int(c, "intermediate_size")
    heads = _int(c, "num_attention_heads")
    kv = _int(c, "num_key_value_heads", default=heads)
    head_dim = _int(c, "head_dim", default=hidden // heads)
    return {"qkv_proj": (hidden, (heads + 2 * kv) * head_dim), "o_proj": (heads * head_dim, hidden),
            "gate_up_proj": (hidden, 2 * inter), "down_proj": (inter, hidden)}


def _starcoder2_shapes(c: dict[str, Any]) -> dict[str, tuple[int, int]]:
    shapes = _llama_shapes({**c, "model_type": "starcoder2"})
    hidden, inter = _int(c, "hidden_size"), _int(c, "intermediate_size")
    for name in ("gate_proj", "up_proj", "down_proj"):
        shapes.pop(name)
    return {**shapes, "c_fc": (hidden, inter), "c_proj": (inter, hidden)}


SHAPE_READERS = {"gpt2": _gpt2_shapes, "gpt_bigcode": _gpt2_shapes, "gpt_neox": _fused_qkv_shapes,
                 "falcon": _fused_qkv_shapes, "bloom": _fused_qkv_shapes, "opt": _opt_shapes, "phi": _phi_shapes,
                 "phi3": _phi3_shapes, "starcoder2": _starcoder2_shapes}
# Layouts our names don't describe (DeepSeek-V2's latent attention): counts are "unknown".
UNSHAPED_TYPES = {"deepseek_v2"}


def linear_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]] | None:
    """(in_features, out_features) of each adaptable linear layer in one block, from
    config.json alone; None for an architecture we don't know (callers say "unknown")."""
    model_type = str(config.get("model_type", ""))
    if model_type not in ARCHITECTURE_MODULES or model_type in UNSHAPED_TYPES:
        return None
    reader = SHAPE_READERS.get(model_type, _llama_shapes)
    try:
        return reader(config)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def num_layers(config: dict[str, Any]) -> int:
    return _int(config, "num_hidden_layers", "n_layer")


def count_adapter_parameters(config: dict[str, Any], lora: LoraSettings) -> int | None:
    """Trainable parameters the settings' adapter adds: its method's count per adapted layer
    (core.methods), over every block; None where the shapes or the tuner are unknown."""
    shapes = linear_shapes(config)
    if shapes is None or lora.tuner not in methods.tuner_names():
        return None
    modules = resolve_target_modules(config, lora.target_modules)
    if modules == ["all-linear"]:
        if str(config.get("model_type")) in MOE_TYPES:
            return None  # peft would adapt every expert and the router too
        modules = list(shapes)
    per_block = 0
    for name in modules:
        if name not in shapes:
            return None
        fan_in, fan_out = shapes[name]
        per_block += methods.trainable_per_layer(lora, fan_in, fan_out)
    try:
        return per_block * num_layers(config)
    except (KeyError, TypeError, ValueError):
        return None


def count_lora_parameters(config: dict[str, Any], target_modules: list[str], r: int,
                          use_dora: bool = False) -> int | None:
    """Trainable parameters plain LoRA (or DoRA) adds: r * (in + out) per adapted layer (+ out for DoRA)."""
    return count_adapter_parameters(config, LoraSettings(r=r, target_modules=list(target_modules),
                                                         use_dora=use_dora))


def demo_settings(steps: int = 40) -> dict[str, Any]:
    """The quick run of `make demo` and the first-run guide, as dotted job fields: ~40 steps
    of 4 rows at a high LoRA learning rate, about a minute and a half on two CPU cores,
    enough for the Captain Lora style to show on held-out prompts."""
    return {"training.max_steps": steps, "training.batch_size": 4, "training.learning_rate": 1e-3,
            "training.max_length": 128, "training.warmup_ratio": 0.05, "training.save_steps": max(1, steps // 2),
            "lora.r": 16, "lora.alpha": 32, "output.name": "captain-lora-demo"}
