"""config.json shapes of well-known Llama-family models, for the VRAM validation.

The GPU measurements (scripts/measure_vram.py) build random-weight models of these
shapes, and the estimator's tests read the same dicts, so both sides agree on what
"8B" means without downloading anything.
"""

from __future__ import annotations

from typing import Any


def _llama(hidden: int, inter: int, layers: int, heads: int, kv_heads: int, vocab: int, tied: bool) -> dict[str, Any]:
    return {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "head_dim": hidden // heads, "vocab_size": vocab,
        "tie_word_embeddings": tied, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
    }


MODEL_SHAPES: dict[str, dict[str, Any]] = {
    "smollm2-135m": _llama(576, 1536, 30, 9, 3, 49152, True),
    "llama-3.2-1b": _llama(2048, 8192, 16, 32, 8, 128256, True),
    "llama-3.2-3b": _llama(3072, 8192, 28, 24, 8, 128256, True),
    "llama-2-7b": _llama(4096, 11008, 32, 32, 32, 32000, False),
    "llama-3.1-8b": _llama(4096, 14336, 32, 32, 8, 128256, False),
    "llama-3.1-70b": _llama(8192, 28672, 80, 64, 8, 128256, False),
}


# Other families, as their config.json files on the Hub give them (issue 26: the estimate's layer
# model per family is measured against these). Mixtral's is the real layer with 4 of its 32 layers,
# so that a measurement fits beside others on one GPU; the estimate counts layers, not names.
FAMILY_SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                     "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                     "tie_word_embeddings": True, "max_position_embeddings": 32768, "rope_theta": 1000000.0},
    "qwen2.5-1.5b": {"model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                     "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
                     "tie_word_embeddings": True, "max_position_embeddings": 32768, "rope_theta": 1000000.0},
    "qwen3-0.6b": {"model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
                   "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
                   "tie_word_embeddings": True, "max_position_embeddings": 40960, "rope_theta": 1000000.0},
    "qwen3-1.7b": {"model_type": "qwen3", "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28,
                   "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
                   "tie_word_embeddings": True, "max_position_embeddings": 40960, "rope_theta": 1000000.0},
    "gemma-2-2b": {"model_type": "gemma2", "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                   "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 256000,
                   "tie_word_embeddings": True, "sliding_window": 4096, "attn_logit_softcapping": 50.0,
                   "final_logit_softcapping": 30.0, "query_pre_attn_scalar": 256,
                   "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 8192},
    "gemma-3-1b": {"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912,
                   "num_hidden_layers": 26, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
                   "vocab_size": 262144, "tie_word_embeddings": True, "sliding_window": 512,
                   "query_pre_attn_scalar": 256, "hidden_activation": "gelu_pytorch_tanh",
                   "max_position_embeddings": 32768, "rope_theta": 1000000.0},
    "gemma-3-4b": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
                   "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                   "vocab_size": 262208, "tie_word_embeddings": True, "sliding_window": 1024,
                   "query_pre_attn_scalar": 256, "hidden_activation": "gelu_pytorch_tanh",
                   "max_position_embeddings": 131072, "rope_theta": 1000000.0},
    "phi-3-mini": {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
                   "tie_word_embeddings": False, "max_position_embeddings": 4096, "rope_theta": 10000.0},
    "phi-4-mini": {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
                   "num_attention_heads": 24, "num_key_value_heads": 8, "vocab_size": 200064,
                   "tie_word_embeddings": True, "partial_rotary_factor": 0.75,
                   "max_position_embeddings": 131072, "rope_theta": 10000.0},
    "mistral-7b": {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 32768,
                   "tie_word_embeddings": False, "sliding_window": None, "max_position_embeddings": 32768,
                   "rope_theta": 1000000.0},
    "mixtral-8x7b-4l": {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
                        "num_hidden_layers": 4, "num_attention_heads": 32, "num_key_value_heads": 8,
                        "vocab_size": 32000, "num_local_experts": 8, "num_experts_per_tok": 2,
                        "tie_word_embeddings": False, "sliding_window": None, "max_position_embeddings": 32768,
                        "rope_theta": 1000000.0},
    "gpt2-large": {"model_type": "gpt2", "n_embd": 1280, "n_layer": 36, "n_head": 20, "n_positions": 1024,
                   "vocab_size": 50257, "tie_word_embeddings": True},
    "pythia-1.4b": {"model_type": "gpt_neox", "hidden_size": 2048, "intermediate_size": 8192,
                    "num_hidden_layers": 24, "num_attention_heads": 16, "vocab_size": 50304,
                    "tie_word_embeddings": False, "rotary_pct": 0.25, "use_parallel_residual": True,
                    "max_position_embeddings": 2048},
}


def shape_config(name: str) -> dict[str, Any]:
    """config.json of a named reference shape, Llama or another family."""
    return dict(MODEL_SHAPES.get(name) or FAMILY_SHAPES[name])


def shrunk(config: dict[str, Any]) -> dict[str, Any]:
    """The same family at toy size (the test tokenizer's vocabulary): a CPU dry run of a measurement
    script builds it in a second."""
    small = dict(config)
    for key, size in (("hidden_size", 64), ("n_embd", 64), ("intermediate_size", 128), ("vocab_size", 49152)):
        if key in small:
            small[key] = size
    for key in ("num_hidden_layers", "n_layer"):
        if key in small:
            small[key] = 2
    heads = 4
    for key in ("num_attention_heads", "n_head"):
        if key in small:
            small[key] = heads
    if "num_key_value_heads" in small:
        small["num_key_value_heads"] = 2 if config["num_key_value_heads"] < config["num_attention_heads"] else heads
    if "head_dim" in small:
        small["head_dim"] = 16
    if "query_pre_attn_scalar" in small:
        small["query_pre_attn_scalar"] = 16
    return small

def method_measured_job(method: str, quant: str, batch: int, seq: int, ckpt: bool, r: int = 16):
    """The SFT job ``scripts/measure_vram.py --method`` runs (its method_job, folders aside): the
    method's own loading (``quant`` must be it), alpha 2r, accumulation 1, fast path off; what
    docs/vram_family_measurements.jsonl measured and scripts/vram_family_plan.py plans."""
    from studio.core.job_schema import job_from_dict
    from studio.core.methods import apply_method

    job = {"kind": "train", "model": {"path": "/model", "quantization": quant},
           "dataset": {"path": "/data.jsonl", "eval_fraction": 0.0}, "lora": {"r": r, "alpha": 2 * r},
           "training": {"stage": "sft", "max_steps": 3, "batch_size": batch, "grad_accum": 1, "max_length": seq,
                        "gradient_checkpointing": ckpt, "learning_rate": 1e-5, "logging_steps": 1,
                        "fast_path": False}}
    return job_from_dict(apply_method(job, method), source=f"{method} {batch} x {seq}")


def measured_job(row: dict[str, Any]):
    """The TrainJob that one row of docs/vram_measurements.jsonl measured (see
    scripts/measure_vram.py: LoRA on every linear layer unless ``modules``, alpha 2r,
    dropout 0.05, accumulation 1)."""
    from studio.core.jobs import TrainJob

    job = TrainJob()
    job.model.quantization = row.get("quant", "none")
    job.lora.r, job.lora.alpha, job.lora.dropout = row["r"], 2 * row["r"], 0.05
    job.lora.target_modules = row.get("modules", ["auto"])
    job.lora.use_dora = bool(row.get("dora"))
    tr = job.training
    tr.batch_size, tr.max_length, tr.grad_accum = row["batch"], row["seq"], 1
    tr.gradient_checkpointing = row["ckpt"]
    tr.optimizer = row.get("optimizer", "adamw_torch")
    tr.precision = "bf16"
    return job
