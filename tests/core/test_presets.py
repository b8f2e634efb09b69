"""Presets: every shipped one is sane, target modules per architecture, parameter counts."""

from __future__ import annotations

import pytest

from studio.core.jobs import LoraSettings
from studio.core.presets import (
    ARCHITECTURE_MODULES,
    all_presets,
    available_modules,
    count_lora_parameters,
    linear_shapes,
    preset_for,
    resolve_target_modules,
)

LLAMA_ALL = ["q_proj", "v_proj", "k_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# The bundled SmolLM2-135M-Instruct, as its config.json says.
SMOLLM2 = {
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "vocab_size": 49152,
}


@pytest.mark.parametrize("preset", all_presets(), ids=lambda p: p.name)
def test_every_shipped_preset_is_sane(preset):
    assert preset.r > 0 and isinstance(preset.r, int)
    assert preset.alpha > 0
    assert 0 <= preset.dropout < 1
    assert 1e-5 < preset.learning_rate < 1e-3
    assert preset.scope in ("qv", "attention", "all")
    assert preset.name and preset.note
    # A preset must also pass the job's own validation.
    from studio.core.job_schema import job_from_dict

    job_from_dict({"lora": {"r": preset.r, "alpha": preset.alpha, "dropout": preset.dropout},
                   "training": {"learning_rate": preset.learning_rate}})


def test_presets_grow_with_model_size():
    presets = all_presets()
    assert len(presets) >= 3
    ranks = [p.r for p in presets]
    assert ranks == sorted(ranks)
    rates = [p.learning_rate for p in presets]
    assert rates == sorted(rates, reverse=True)


@pytest.mark.parametrize(
    ("size", "name"),
    [
        (None, "small (<1B)"),
        (0, "small (<1B)"),
        (100_000_000, "small (<1B)"),
        (135_000_000, "small (<1B)"),
        (999_999_999, "small (<1B)"),
        (1_000_000_000, "medium (1-7B)"),
        (7_000_000_000, "medium (1-7B)"),
        (8_000_000_000, "large (7-13B)"),
        (13_000_000_000, "large (7-13B)"),
        (70_000_000_000, "xl (>13B)"),
        (405_000_000_000, "xl (>13B)"),
    ],
)
def test_preset_for_picks_by_size(size, name):
    assert preset_for(size).name == name


@pytest.mark.parametrize(("task", "scope"), [("chat", "all"), ("qa", "qv"), ("completion", "attention"),
                                            ("reasoning", "all"), ("something else", "all")])
def test_preset_for_takes_the_task_scope(task, scope):
    preset = preset_for(1_000_000_000, task)
    assert preset.scope == scope
    assert preset.r == preset_for(1_000_000_000).r


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2", "qwen3", "gemma2", "smollm3"])
def test_llama_shaped_models_get_all_seven_projections(model_type):
    assert resolve_target_modules({"model_type": model_type}, ["auto"]) == LLAMA_ALL
    assert resolve_target_modules({"model_type": model_type}) == LLAMA_ALL


@pytest.mark.parametrize(
    ("model_type", "scope", "expected"),
    [
        ("llama", "qv", ["q_proj", "v_proj"]),
        ("llama", "attention", ["q_proj", "v_proj", "k_proj", "o_proj"]),
        ("llama", "all", LLAMA_ALL),
        ("gpt2", "all", ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"]),
        ("gpt2", "attention", ["c_attn", "attn.c_proj"]),
        ("gpt2", "qv", ["c_attn"]),  # one fused q/k/v projection
        ("gpt_neox", "all", ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]),
        ("gpt_neox", "qv", ["query_key_value"]),
        ("phi3", "all", ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]),
        ("phi3", "qv", ["qkv_proj"]),
        ("opt", "qv", ["q_proj", "v_proj"]),
        ("mixtral", "all", ["q_proj", "v_proj", "k_proj", "o_proj"]),  # MoE: attention only
    ],
)
def test_resolve_target_modules_by_scope(model_type, scope, expected):
    assert resolve_target_modules({"model_type": model_type}, ["auto"], scope) == expected


@pytest.mark.parametrize("config", [{"model_type": "brand_new_arch"}, {}, {"model_type": None}])
def test_unknown_architecture_falls_back_to_all_linear(config):
    assert resolve_target_modules(config, ["auto"]) == ["all-linear"]
    assert available_modules(config) == []


def test_explicit_names_pass_through():
    for config in ({"model_type": "llama"}, {"model_type": "unknown"}):
        assert resolve_target_modules(config, ["q_proj", "lm_head"], "qv") == ["q_proj", "lm_head"]
    assert resolve_target_modules({"model_type": "llama"}, ["all-linear"]) == ["all-linear"]


def test_result_is_a_fresh_list():
    modules = resolve_target_modules({"model_type": "llama"}, ["auto"])
    modules.append("lm_head")
    assert resolve_target_modules({"model_type": "llama"}, ["auto"]) == LLAMA_ALL


def test_default_lora_settings_resolve_for_the_bundled_model():
    assert resolve_target_modules(SMOLLM2, LoraSettings().target_modules) == LLAMA_ALL


def test_smollm2_shapes():
    shapes = linear_shapes(SMOLLM2)
    assert shapes == {
        "q_proj": (576, 576),
        "k_proj": (576, 192),
        "v_proj": (576, 192),
        "o_proj": (576, 576),
        "gate_proj": (576, 1536),
        "up_proj": (576, 1536),
        "down_proj": (1536, 576),
    }


def test_count_lora_parameters_for_smollm2_all_modules():
    r = 8
    q = o = r * (576 + 576)
    k = v = r * (576 + 3 * 64)
    gate = up = down = r * (576 + 1536)
    expected = (q + k + v + o + gate + up + down) * 30
    assert expected == 2_442_240  # what peft reports for this model (measured by the engine)
    assert count_lora_parameters(SMOLLM2, ["auto"], r) == expected
    assert count_lora_parameters(SMOLLM2, ["all-linear"], r) == expected
    assert count_lora_parameters(SMOLLM2, LLAMA_ALL, r) == expected


def test_count_lora_parameters_scales_with_rank_and_modules():
    assert count_lora_parameters(SMOLLM2, ["auto"], 16) == 2 * 2_442_240
    assert count_lora_parameters(SMOLLM2, ["q_proj", "v_proj"], 8) == (8 * 1152 + 8 * 768) * 30


def test_dora_adds_the_out_features():
    lora = count_lora_parameters(SMOLLM2, ["auto"], 8)
    dora = count_lora_parameters(SMOLLM2, ["auto"], 8, use_dora=True)
    magnitudes = (576 + 192 + 192 + 576 + 1536 + 1536 + 576) * 30
    assert dora - lora == magnitudes == 155_520
    assert count_lora_parameters(SMOLLM2, ["q_proj"], 4, use_dora=True) == (4 * 1152 + 576) * 30


def test_head_dim_defaults_to_hidden_over_heads():
    config = {k: v for k, v in SMOLLM2.items() if k != "head_dim"}
    assert count_lora_parameters(config, ["auto"], 8) == 2_442_240
    no_kv = {k: v for k, v in config.items() if k != "num_key_value_heads"}
    assert linear_shapes(no_kv)["k_proj"] == (576, 576)


def test_count_is_unknown_where_shapes_are_unknown():
    assert count_lora_parameters({"model_type": "gpt2", "hidden_size": 768}, ["auto"], 8) is None
    assert count_lora_parameters({"model_type": "x"}, ["auto"], 8) is None
    assert count_lora_parameters(SMOLLM2, ["not_a_module"], 8) is None


def test_available_modules():
    assert available_modules({"model_type": "llama"}) == LLAMA_ALL
    assert available_modules({"model_type": "qwen2"}) == LLAMA_ALL
    assert available_modules({"model_type": "phi3"}) == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    for model_type in ARCHITECTURE_MODULES:
        offered = available_modules({"model_type": model_type})
        assert offered and len(offered) == len(set(offered))
        # Every scope picks only what the GUI can offer.
        for scope in ("qv", "attention", "all"):
            assert set(resolve_target_modules({"model_type": model_type}, ["auto"], scope)) <= set(offered)
