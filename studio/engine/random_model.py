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


def random_llama(shape: dict[str, Any], quantization: str = "none", device: str = "cuda",
                 quant_storage: torch.dtype = torch.uint8):
    """A random Llama of ``shape``; a 4-bit one is built one layer at a time, so a
    70B (140 GB in bf16) never exists unquantized. ``quant_storage`` bf16 lets FSDP
    shard the 4-bit weights."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(**shape)
    if quantization != "4bit":
        with torch.device(device):
            return transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    layers = model.model.layers
    model.model.layers = torch.nn.ModuleList()
    model.to_empty(device=device)
    _randomize(model, config.initializer_range)
    for index, layer in enumerate(layers):
        layer.to_empty(device=device)
        _randomize(layer, config.initializer_range)
        quantize_linears_4bit(layer, torch.bfloat16, quant_storage)
        model.model.layers.append(layer)
        if index % 8 == 0:
            torch.cuda.empty_cache()
    with torch.device(device):  # its inverse frequencies are not weights: to_empty left them blank
        model.model.rotary_emb = type(model.model.rotary_emb)(config=config)
    return model


def random_causal_lm(config: dict[str, Any], device: str = "cuda"):
    """A random bf16 model of any family transformers knows, from its config.json dict (Qwen, Gemma,
    Phi-3, Mistral, Mixtral, GPT-2, GPT-NeoX: the memory estimate's families)."""
    torch.manual_seed(0)
    settings = {k: v for k, v in config.items() if k not in ("model_type", "architectures")}
    hf_config = transformers.AutoConfig.for_model(config["model_type"], **settings)
    with torch.device(device):
        return transformers.AutoModelForCausalLM.from_config(hf_config, dtype=torch.bfloat16)


def _randomize(module: torch.nn.Module, std: float) -> None:
    with torch.no_grad():
        for param in module.parameters():
            if param.dim() == 1:
                param.fill_(1.0)  # norms
            else:
                param.normal_(0.0, std)


def quantize_linears_4bit(model, compute_dtype, quant_storage: torch.dtype = torch.uint8) -> None:
    """Swap every decoder Linear for Linear4bit; embeddings, norms and lm_head stay bf16."""
    import bitsandbytes as bnb

    layers = model.model.layers if hasattr(model, "model") else [model]
    for layer in layers:
        for parent in list(layer.modules()):
            for child_name, child in list(parent.named_children()):
                if not isinstance(child, torch.nn.Linear):
                    continue
                quant = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                          compute_dtype=compute_dtype, compress_statistics=True, quant_type="nf4",
                                          quant_storage=quant_storage, device="meta")
                quant.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4",
                                                 compress_statistics=True, quant_storage=quant_storage).to(
                                                     child.weight.device)
                quant.quant_state = quant.weight.quant_state  # FSDP's flattening drops it from the weight;
                setattr(parent, child_name, quant)          # bitsandbytes restores it from the module
                del child
    torch.cuda.empty_cache()
