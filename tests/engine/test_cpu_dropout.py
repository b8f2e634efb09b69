"""LoRA's dropout on the CPU (engine.cpu_dropout): a bool mask kept for the backward, the same
dropout otherwise, swapped into peft's layers without touching what the adapter saves."""

from __future__ import annotations

import pytest
import torch

from studio.core.jobs import LoraSettings
from studio.engine import adapter_setup
from studio.engine.cpu_dropout import MaskedDropout, use_masked_dropout


def saved_dtypes(module: torch.nn.Module, x: torch.Tensor) -> list[torch.dtype]:
    kept: list[torch.dtype] = []

    def pack(tensor):
        kept.append(tensor.dtype)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(x)
    return kept


def test_keeps_a_bool_mask_where_nn_dropout_keeps_fp32_noise():
    x = torch.randn(64, 32, requires_grad=True)
    assert saved_dtypes(torch.nn.Dropout(0.1).train(), x) == [torch.float32]  # what this replaces, on the CPU
    assert saved_dtypes(MaskedDropout(0.1).train(), x) == [torch.bool]


def test_drops_and_scales_like_dropout():
    torch.manual_seed(0)
    x = torch.ones(200_000, requires_grad=True)
    out = MaskedDropout(0.25).train()(x)
    dropped = (out == 0).float().mean().item()
    assert dropped == pytest.approx(0.25, abs=0.01)
    assert out.unique().tolist() == [0.0, pytest.approx(1 / 0.75)]
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # the gradient goes through the kept entries, scaled alike
    same = MaskedDropout(0.25).eval()
    assert same(x) is x


def test_swapped_into_every_lora_layer_and_the_adapter_unchanged(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = adapter_setup.apply_adapter(model, LoraSettings(r=4, alpha=8, dropout=0.05), False, quantized=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lora_layers = [m for m in model.modules() if isinstance(getattr(m, "lora_dropout", None), torch.nn.ModuleDict)]
    assert use_masked_dropout(model) == len(lora_layers) == 14  # 7 projections x 2 layers
    assert all(isinstance(m.lora_dropout["default"], MaskedDropout) and m.lora_dropout["default"].p == 0.05
               for m in lora_layers)
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert use_masked_dropout(model) == 0  # nothing left to swap
    none = adapter_setup.apply_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                       LoraSettings(r=4, alpha=8, dropout=0.0), False, quantized=False)
    assert use_masked_dropout(none) == 0  # no dropout: peft's Identity stays
