"""LoRA's dropout on the CPU, keeping a 1-byte mask for the backward instead of a 4-byte one.

On the CPU, ``nn.Dropout`` draws its noise as a tensor of the input's own type (fp32), scales
it and multiplies: the backward keeps that fp32 noise beside the dropped input that the
adapter's A matrix keeps. peft gives every adapted layer its own dropout, seven per decoder
layer, and in the bundled model they held 54% of a step's saved activations (1.16 of 2.14 MB
per token, measured with saved-tensor hooks; docs/benchmarks.md, issue 20). ``native_dropout``,
what CUDA's dropout runs, keeps a bool mask: a quarter of the noise's memory, the same
distribution and the same scaling. On CUDA ``nn.Dropout`` already runs it, so only CPU runs
swap their modules.
"""

from __future__ import annotations

import torch


class MaskedDropout(torch.nn.Dropout):
    """``nn.Dropout`` through ``torch.native_dropout`` (a bool mask kept for the backward)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return input
        return torch.native_dropout(input, self.p, True)[0]


def use_masked_dropout(model) -> int:
    """Swap every LoRA layer's ``nn.Dropout`` for a ``MaskedDropout`` of the same rate; how many."""
    swapped = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, torch.nn.ModuleDict):
            continue
        for name, dropout in list(dropouts.items()):
            if type(dropout) is torch.nn.Dropout and dropout.p > 0:
                dropouts[name] = MaskedDropout(dropout.p).train(dropout.training)
                swapped += 1
    return swapped
