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
