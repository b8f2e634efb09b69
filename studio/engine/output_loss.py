"""The causal-LM loss on the CPU, computed only where a label counts, a slice of rows at a time.

Why (issue 20): the model's own loss builds fp32 logits for every position of the batch
(batch x length x vocabulary: 4 x 512 x 49,152 = 403 MB for the bundled model), a
log-softmax of the same size and, in the backward, its gradient: over a gigabyte for one
step or one eval batch, most of it for padding and prompt tokens labelled -100 (38% and 20%
of a padded batch of alpaca rows). Here the output layer sees only the positions whose next
token is trained, in slices of at most ``SLICE_BYTES`` of logits, and the gradient of its
input is computed in the same pass: under LoRA the output layer is frozen, so that gradient
is all its backward would make. Liger's fused linear cross-entropy (the GPU fast path's) does
the same in Triton; this is it in plain torch, for the CPU, where no kernel launch or host
sync makes the data-dependent selection cost anything.

The numbers are the model's: the same shift, the same ``ignore_index``, the sum over the
kept tokens divided by ``num_items_in_batch`` (the Trainer's count across gradient
accumulation) or their mean. Only for families whose logits are the output layer's product
and nothing more (no soft-capping or logit scaling), with a frozen plain ``nn.Linear`` output
layer, under an adapter whose loss is the model's (not one whose record says ``adds_loss``, such as
AdaLoRA: its forward adds an orthogonality penalty to the loss the model returns); anything else
keeps the model's own loss (``for_model`` says None).
"""

from __future__ import annotations

from typing import Any

import torch

from studio.core import methods
from studio.engine.data_prep import IGNORE

SLICE_BYTES = 64 << 20  # fp32 logits a slice may hold: 341 rows of the bundled model's vocabulary

# Families whose forward ends in ``logits = lm_head(hidden)`` and transformers' ForCausalLMLoss.
# Not gemma2/3 (soft-capped logits), cohere (logit_scale), granite (logits_scaling), MoE families
# (their loss adds the router's).
PLAIN_LOGITS_TYPES = frozenset({
    "llama", "mistral", "qwen2", "qwen3", "phi3", "smollm3", "olmo", "olmo2", "starcoder2", "gemma", "gpt_neox",
    "phi", "stablelm", "gpt2", "gpt_bigcode", "falcon", "opt"})


class OutputLoss:
    """The loss of a batch from the decoder's last hidden states, the output layer applied to
    the labelled positions alone (see the module docstring)."""

    def __init__(self, output_layer: torch.nn.Linear, vocab_size: int):
        self.output_layer = output_layer
        self.rows_per_slice = max(1, SLICE_BYTES // (4 * vocab_size))

    @classmethod
    def for_model(cls, model) -> OutputLoss | None:
        """One for ``model`` (a PeftModel or a plain causal LM) where it computes the model's
        own loss; None where it can't say so (another family, a trained output layer)."""
        config = getattr(model, "config", None)
        if getattr(config, "model_type", None) not in PLAIN_LOGITS_TYPES:
            return None
        adapters = getattr(model, "peft_config", None) or {}
        if any(_adds_loss(c) for c in adapters.values()):
            return None
        layer = model.get_output_embeddings()
        if type(layer) is not torch.nn.Linear or any(p.requires_grad for p in layer.parameters()):
            return None  # a LoRA-wrapped or trained output layer needs its own backward
        return cls(layer, layer.out_features)

    def __call__(self, model, inputs: dict[str, Any], num_items_in_batch=None) -> tuple[torch.Tensor, Any]:
        """(loss, the model's outputs, whose logits are empty) for a batch with ``labels``."""
        labels = inputs["labels"]
        captured: list[torch.Tensor] = []

        def take_hidden(_module, args):
            captured.append(args[0])
            return (args[0][..., :0, :],)  # logits for no position: the loss below needs none

        handle = self.output_layer.register_forward_pre_hook(take_hidden)
        try:
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False)
        finally:
            handle.remove()
        hidden = captured[-1]
        targets = labels[..., 1:]
        kept = targets != IGNORE
        count = int(kept.sum())
        # The model's denominator: the Trainer's count over the accumulated batch, else this batch's mean
        # (0 kept tokens give NaN there too, which GuardedTrainer reports).
        denominator = float(num_items_in_batch) if num_items_in_batch is not None else float(count)
        loss = _LabelledLoss.apply(hidden[..., :-1, :][kept], self.output_layer.weight, self.output_layer.bias,
                                   targets[kept], denominator, self.rows_per_slice)
        return loss, outputs


def _adds_loss(config) -> bool:
    """Whether a peft config's tuner adds to the model's loss (AdaLoRA's orthogonality penalty, added
    only when the model is given labels), as its record says."""
    record = methods.tuner_of_peft_config({"peft_type": str(getattr(config.peft_type, "value", config.peft_type))})
    return record is not None and record.adds_loss


class _LabelledLoss(torch.autograd.Function):
    """Cross-entropy of ``hidden @ weight.T (+ bias)`` against ``targets``, summed and divided by
    ``denominator``; the gradient of ``hidden`` is made slice by slice in the forward pass (the
    weight is frozen), so no slice's logits outlive it."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, denominator: float, rows: int):  # type: ignore[override]
        want_grad = bool(ctx.needs_input_grad[0])
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad = torch.empty_like(hidden) if want_grad else None
        for start in range(0, hidden.shape[0], rows):
            piece = hidden[start:start + rows]
            logits = torch.nn.functional.linear(piece, weight, bias).float()  # upcast as ForCausalLMLoss does
            wanted = targets[start:start + rows]
            top = torch.logsumexp(logits, dim=-1)
            total += (top - logits.gather(1, wanted[:, None]).squeeze(1)).sum()
            if grad is not None:
                probs = logits.sub_(top[:, None]).exp_()  # softmax, in the logits' own memory
                probs[torch.arange(len(wanted), device=probs.device), wanted] -= 1.0
                grad[start:start + rows] = probs.to(weight.dtype) @ weight
        if grad is not None:
            grad.div_(denominator)
            ctx.save_for_backward(grad)
        return total / denominator

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * grad_output.to(grad.dtype), None, None, None, None, None
