"""What autograd keeps per token, per model family, counted on the CPU (issue 26).

The memory estimate's layer model (core.vram_families) says how many bytes one decoder layer keeps
for the backward pass per token, and how many the loss keeps per token and vocabulary entry. This
script counts them on a real model of each family (core.reference_shapes.FAMILY_SHAPES, at its real
widths with two layers and a small vocabulary), through the app's adapter setup (LoRA r=16 on the
estimate's modules, dropout 0.05, the CUDA-style 1-byte dropout masks), with saved-tensor hooks:
every tensor the forward saves, each storage once, the frozen weights left out. The counts do not
depend on the device's allocator, so they check the layer model where a GPU is not at hand; the
GPU runs (scripts/gpu_vram_families.sh) check the whole peak.

Usage: .venv/bin/python scripts/vram_family_layers.py [--shapes qwen3-0.6b gemma-2-2b] [--tokens 256]
Prints one line per family: counted vs the layer model, and writes JSON lines with --out FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from studio.core import vram_families
from studio.core.jobs import LoraSettings
from studio.core.presets import linear_shapes, resolve_target_modules
from studio.core.reference_shapes import FAMILY_SHAPES, shape_config, shrunk
from studio.engine.adapter_setup import apply_adapter
from studio.engine.cpu_dropout import MaskedDropout, use_masked_dropout
from studio.engine.random_model import random_causal_lm

COUNTED_VOCAB = 4096  # the loss's share per vocabulary entry is counted on a small one


def counting_config(config: dict[str, Any], layers: int = 2) -> dict[str, Any]:
    """``config`` at its real widths with ``layers`` decoder layers and a small vocabulary."""
    small = dict(config, vocab_size=COUNTED_VOCAB, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if "attn_pdrop" in small or small.get("model_type") == "gpt2":
        # CUDA's attention kernels drop inside the kernel and keep only a seed; the CPU's SDPA falls
        # back to its math path (the whole score matrix) when asked to drop: count without
        small["attn_pdrop"] = 0.0
    small["n_layer" if "n_layer" in small else "num_hidden_layers"] = layers
    return small


class SavedBytes:
    """Bytes of the tensors autograd saves while it is on, each storage once, parameters left out."""

    def __init__(self, model: torch.nn.Module):
        self.skip = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.skip |= {b.untyped_storage().data_ptr() for b in model.buffers()}
        self.seen: dict[int, int] = {}
        self.shapes: dict[int, tuple] = {}
        self.on = False

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.on and tensor.device.type != "meta":
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in self.skip:
                self.seen[storage.data_ptr()] = storage.nbytes()
                self.shapes[storage.data_ptr()] = (tuple(tensor.shape), str(tensor.dtype), storage.nbytes())
        return tensor

    def total(self) -> int:
        return sum(self.seen.values())


def count(config: dict[str, Any], tokens: int, modules: list[str] | None = None) -> dict[str, float]:
    """Per token: what one decoder layer saves (the second of two) and what the head and loss save per
    vocabulary entry, for LoRA r=16 with dropout 0.05 on ``modules`` (the estimate's default). Each is
    the slope between ``tokens`` and twice as many: what does not grow with the batch (autocast's bf16
    copies of the adapter weights) is left out."""
    small = counting_config(config)
    model = random_causal_lm(small, device="cpu")
    settings = LoraSettings(r=16, alpha=32, dropout=0.05, target_modules=modules or ["auto"])
    model = apply_adapter(model, settings, gradient_checkpointing=False, quantized=False)
    use_masked_dropout(model)
    _mask_model_dropout(model)
    model.train()
    counter = SavedBytes(model)
    layer, head = _decoder_layers(model)[1], model.get_output_embeddings()

    def saved(module: torch.nn.Module, n: int, until_end: bool) -> int:
        counter.seen.clear()
        hooks = [module.register_forward_pre_hook(lambda *_: setattr(counter, "on", True))]
        if not until_end:
            hooks.append(module.register_forward_hook(lambda *_: setattr(counter, "on", False)))
        ids = torch.randint(0, COUNTED_VOCAB, (1, n))
        # bf16 autocast, as the Trainer runs a bf16 job: the adapters' fp32 weights see bf16 inputs
        with torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t), \
                torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        counter.on = False
        for hook in hooks:
            hook.remove()
        del loss
        return counter.total()

    layer_slope = (saved(layer, 2 * tokens, False) - saved(layer, tokens, False)) / tokens
    # the head: from the output embedding's input to the loss (the logits, their fp32 copy, soft-capping)
    head_slope = (saved(head, 2 * tokens, True) - saved(head, tokens, True)) / tokens
    return {"layer_per_token": layer_slope, "head_per_entry": head_slope / COUNTED_VOCAB}


def _mask_model_dropout(model: torch.nn.Module) -> None:
    """The model's own dropouts (GPT-2's residual ones) as CUDA runs them: a 1-byte mask each."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Dropout and child.p > 0:
                setattr(module, name, MaskedDropout(child.p))


def _decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == 2:
            return module
    raise ValueError("no list of decoder layers found")


def modelled(config: dict[str, Any], tokens: int, modules: list[str] | None = None) -> dict[str, float]:
    """What core.vram_families says for the same layer and head, as the same slope between rows of
    ``tokens`` and twice as many (eager attention's scores grow with the row's length)."""
    shapes = linear_shapes(config)
    assert shapes is not None, config.get("model_type")
    targets = resolve_target_modules(config, modules or ["auto"])
    if targets == ["all-linear"]:
        targets = list(shapes)

    def kept(n: int) -> int:
        return n * vram_families.layer_bytes(config, shapes, targets, 0.05, LoraSettings(r=16), seq_len=n,
                                              cuda=False)

    return {"layer_per_token": (kept(2 * tokens) - kept(tokens)) / tokens,
            "head_per_entry": vram_families.head_bytes_per_entry(config)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="*", default=list(FAMILY_SHAPES))
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--toy", action="store_true", help="each family at toy widths (reference_shapes.shrunk)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}; per token: layer bytes (counted / modelled), head bytes per vocab entry")
    for name in args.shapes:
        config = shrunk(shape_config(name)) if args.toy else shape_config(name)
        counted, model = count(config, args.tokens), modelled(config, args.tokens)
        error = (model["layer_per_token"] - counted["layer_per_token"]) / counted["layer_per_token"]
        print(f"{name:18s} layer {counted['layer_per_token']:>10,.0f} / {model['layer_per_token']:>10,.0f} "
              f"({error:+.1%})   head {counted['head_per_entry']:.2f} / {model['head_per_entry']:.2f}")
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps({"shape": name, "tokens": args.tokens, "counted": counted, "modelled": model,
                                    "torch": torch.__version__}) + "\n")


if __name__ == "__main__":
    main()
