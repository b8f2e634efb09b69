"""Llama-shaped models with random weights, built on the device (no download).

The VRAM measurements and the speed benchmark need real 1B-8B models on the GPU
machine, which reaches no network; random weights cost the same memory and time.
QLoRA models get their decoder linears swapped for bitsandbytes' Linear4bit (NF4,
double quantization), as transformers' BitsAndBytesConfig loader does.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers


def random_llama(shape: dict[str, Any], quantization: str = "none", device: str = "cuda"):
    torch.manual_seed(0)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(**shape), dtype=torch.bfloat16)
    if quantization == "4bit":
        quantize_linears_4bit(model, torch.bfloat16)
    return model


def quantize_linears_4bit(model, compute_dtype) -> None:
    """Swap every decoder Linear for Linear4bit; embeddings, norms and lm_head stay bf16."""
    import bitsandbytes as bnb

    for layer in model.model.layers:
        for parent in list(layer.modules()):
            for child_name, child in list(parent.named_children()):
                if not isinstance(child, torch.nn.Linear):
                    continue
                quant = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                          compute_dtype=compute_dtype, compress_statistics=True, quant_type="nf4",
                                          device="meta")
                quant.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4",
                                                 compress_statistics=True).to("cuda")
                setattr(parent, child_name, quant)
                del child
    torch.cuda.empty_cache()
