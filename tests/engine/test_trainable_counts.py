"""core's trainable-parameter count (no torch) equals peft's, for every family the app knows
and every tuner it trains."""

from __future__ import annotations

import peft
import pytest
import transformers

from studio.core import methods
from studio.core.jobs import LoraSettings
from studio.core.presets import (
    ARCHITECTURE_MODULES,
    count_adapter_parameters,
    count_lora_parameters,
    linear_shapes,
    resolve_target_modules,
)
from studio.engine import adapter_setup

SMALL = dict(vocab_size=128, max_position_embeddings=64)


def tiny_configs() -> dict[str, transformers.PretrainedConfig]:
    t = transformers
    llama_like = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, **SMALL)
    return {
        "llama": t.LlamaConfig(**llama_like),
        "mistral": t.MistralConfig(**llama_like),
        "qwen2": t.Qwen2Config(**llama_like),
        "qwen3": t.Qwen3Config(**llama_like, head_dim=24),  # head_dim != hidden / heads
        "gemma": t.GemmaConfig(**llama_like, head_dim=16),
        "gemma2": t.Gemma2Config(**llama_like, head_dim=16),
        "olmo2": t.Olmo2Config(**llama_like),
        "granite": t.GraniteConfig(**llama_like),
        "mixtral": t.MixtralConfig(**llama_like, num_local_experts=2, num_experts_per_tok=1),
        "gpt2": t.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=64, vocab_size=128),
        "gpt_bigcode": t.GPTBigCodeConfig(n_embd=64, n_layer=2, n_head=4, n_positions=64, vocab_size=128,
                                          multi_query=True),
        "gpt_neox": t.GPTNeoXConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                    num_attention_heads=4, **SMALL),
        "falcon": t.FalconConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=128),
        "falcon-new": t.FalconConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_kv_heads=2,
                                     new_decoder_architecture=True, vocab_size=128),
        "bloom": t.BloomConfig(hidden_size=64, n_layer=2, n_head=4, vocab_size=128),
        "opt": t.OPTConfig(hidden_size=64, ffn_dim=96, num_hidden_layers=2, num_attention_heads=4,
                           word_embed_proj_dim=64, **SMALL),
        "phi": t.PhiConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                           **SMALL),
        "phi3": t.Phi3Config(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, pad_token_id=0, **SMALL),
        "starcoder2": t.Starcoder2Config(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, **SMALL),
    }


def peft_count(config: transformers.PretrainedConfig, targets: list[str] | str, r: int, dora: bool = False) -> int:
    model = transformers.AutoModelForCausalLM.from_config(config)
    lora = peft.LoraConfig(r=r, lora_alpha=2 * r, target_modules=targets, use_dora=dora, task_type="CAUSAL_LM")
    trainable, _total = peft.get_peft_model(model, lora).get_nb_trainable_parameters()
    return trainable


@pytest.mark.parametrize("family", list(tiny_configs()))
def test_count_matches_peft(family):
    config = tiny_configs()[family]
    as_json = config.to_dict()
    assert str(as_json["model_type"]) in ARCHITECTURE_MODULES
    shapes = linear_shapes(as_json)
    assert shapes is not None, family
    cases: list[tuple[list[str], bool]] = [(["auto"], False), (list(shapes)[:1], True)]
    if family != "mixtral":  # all-linear adapts the experts, which core does not count
        cases.append((["all-linear"], False))
    for targets, dora in cases:
        ours = count_lora_parameters(as_json, targets, 8, use_dora=dora)
        resolved = "all-linear" if targets == ["all-linear"] else resolve_target_modules(as_json, targets)
        assert ours == peft_count(config, resolved, 8, dora), (family, targets, dora)


@pytest.mark.parametrize(("name", "hidden", "layers", "expected"), [
    ("125M", 768, 12, 2_359_296), ("350M", 1024, 24, 6_291_456), ("1.3B", 2048, 24, 12_582_912)])
def test_seeds_opt_table_is_rank_32_on_q_k_v_out(name, hidden, layers, expected):
    """The seeds label these OPT counts r=16; they are r=32 on q/k/v/out_proj (r=16 gives half)."""
    config = {"model_type": "opt", "hidden_size": hidden, "ffn_dim": 4 * hidden, "num_hidden_layers": layers}
    attention = ["q_proj", "k_proj", "v_proj", "out_proj"]
    assert count_lora_parameters(config, attention, 32) == expected
    assert count_lora_parameters(config, attention, 16) == expected // 2
    tiny = transformers.OPTConfig(hidden_size=hidden, ffn_dim=4 * hidden, num_hidden_layers=1,
                                  num_attention_heads=hidden // 64, word_embed_proj_dim=hidden, **SMALL)
    assert peft_count(tiny, attention, 32) * layers == expected  # peft agrees, one layer at a time


@pytest.mark.parametrize("tuner", methods.tuner_names())
@pytest.mark.parametrize("family", ["llama", "qwen3", "phi3", "gpt_neox", "opt", "gpt_bigcode"])
def test_every_tuners_count_matches_peft(tuner, family):
    """The estimator's trainable parameters (core.methods' count per layer) are peft's, for
    every tuner; the rank 12 is not a power of two, so block and factor rounding shows."""
    config = tiny_configs()[family]
    settings = LoraSettings(tuner=tuner, r=12, target_modules=["auto"])
    model = transformers.AutoModelForCausalLM.from_config(config)
    peft_model = peft.get_peft_model(model, adapter_setup.adapter_config(settings, config.to_dict(), total_steps=10))
    assert count_adapter_parameters(config.to_dict(), settings) == peft_model.get_nb_trainable_parameters()[0]
