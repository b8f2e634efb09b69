"""Attention over packed rows by their sequence boundaries, with no mask at all.

Packed rows (engine.data_prep.PackedCollator) through SDPA need a row x row block-diagonal
mask, built every step, and SDPA with a mask has no flash kernel: its memory-efficient
kernel then computes every masked-out block too. PyTorch's own flash-attention varlen
kernel (``torch.nn.attention.varlen``, torch >= 2.9) takes the row's cumulative sequence
starts instead (the ``cu_seq_lens_q``/``max_length_q`` keyword arguments of transformers'
flash-attention protocol, which the collator adds) and skips all cross-example work.

Registered with transformers as the attention implementation ``studio_varlen``. Anything
it does not serve (no boundaries: a padded batch, ``generate()``; CPU; fp32; attention
dropout, sliding windows, soft-capping) goes to transformers' SDPA with SDPA's own mask, so the model stays correct
everywhere.
"""

from __future__ import annotations

import inspect

import torch

NAME = "studio_varlen"


def available() -> bool:
    """The flash varlen kernel: torch >= 2.9 on an Ampere or newer NVIDIA GPU."""
    try:
        from torch.nn.attention import varlen  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available() and torch.version.hip is None and torch.cuda.get_device_capability()[0] >= 8


def register() -> None:
    """Make ``NAME`` an attention implementation (idempotent), its masks SDPA's."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)


def use(model, kernel=None) -> None:
    """Switch ``model`` (a peft wrapper too) to this attention. ``kernel``: what computes a
    packed row (default the flash kernel; ``reference_kernel`` in tests on the CPU)."""
    global _KERNEL, _CAUSAL
    register()
    if kernel is None and available():
        from torch.nn.attention.varlen import varlen_attn

        # torch 2.9-2.11 take ``is_causal``, later ones ``window_size``; decided here, outside compiled code.
        _CAUSAL = {"window_size": (-1, 0)} if "window_size" in inspect.signature(varlen_attn).parameters else {
            "is_causal": True}
        kernel = flash_kernel
    _KERNEL = kernel
    model.set_attn_implementation(NAME)


_KERNEL = None  # set by use(); None: every call goes to SDPA
_CAUSAL: dict = {}


def attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
              **kwargs):
    """transformers' attention signature: (batch, heads, tokens, dim) in, (batch, tokens, heads, dim) out."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    starts = kwargs.get("cu_seq_lens_q")
    kernel = _kernel_for(query)
    if (starts is None or kernel is None or query.shape[0] != 1 or dropout or not getattr(module, "is_causal", True)
            or kwargs.get("sliding_window") or kwargs.get("softcap")):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    longest = kwargs.get("max_length_q")
    return packed(query, key, value, starts, query.shape[2] if longest is None else longest, scaling, kernel), None


def packed(query, key, value, starts, longest: int, scaling: float | None, kernel):
    """One packed row: tokens of every sequence side by side, each attending causally to its own."""
    groups = query.shape[1] // key.shape[1]
    # (1, heads, tokens, dim) -> (tokens, heads, dim), the kernels' layout
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    starts = starts.to(device=q.device, dtype=torch.int32)
    return kernel(q.contiguous(), k.contiguous(), v.contiguous(), starts, longest, scaling).unsqueeze(0)


def _kernel_for(query):
    if _KERNEL is flash_kernel and not (query.is_cuda and query.dtype in (torch.bfloat16, torch.float16)):
        return None
    return _KERNEL


def flash_kernel(q, k, v, starts, longest: int, scaling: float | None):
    from torch.nn.attention.varlen import varlen_attn

    return varlen_attn(q, k, v, starts, starts, longest, longest, scale=scaling, **_CAUSAL)


def reference_kernel(q, k, v, starts, longest: int, scaling: float | None):
    """What the flash kernel computes, one SDPA call per sequence (tests; any device)."""
    bounds = starts.tolist()
    parts = [torch.nn.functional.scaled_dot_product_attention(
        q[a:b].transpose(0, 1), k[a:b].transpose(0, 1), v[a:b].transpose(0, 1), is_causal=True, scale=scaling)
        for a, b in zip(bounds, bounds[1:], strict=False)]
    return torch.cat(parts, dim=1).transpose(0, 1)
