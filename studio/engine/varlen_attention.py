"""Attention over packed rows by their sequence boundaries, with no mask at all.

Packed rows (engine.data_prep.PackedCollator) through SDPA need a row x row block-diagonal
mask, built every step (256 MiB at 16k tokens, 4 GiB at 64k), and SDPA with a mask has no
flash kernel: its memory-efficient kernel then computes every masked-out block too.
PyTorch's own flash-attention varlen kernel (``torch.nn.attention.varlen``, torch >= 2.9)
takes the row's cumulative sequence starts instead (the ``cu_seq_lens_q``/``max_length_q``
keywords of transformers' flash-attention protocol, which the collator adds) and skips all
cross-example work.

Registered with transformers as the attention implementation ``studio_varlen``, for causal
decoders that would otherwise run SDPA without sliding windows, soft-capping or attention
dropout (``use`` leaves any other model alone). Its mask function builds no mask for a
forward pass over whole unpadded rows: their boundaries come from the collator, or else
from the position ids (each sequence restarts at 0). Padded batches and ``generate()``'s
decoding steps get SDPA's own mask and go to transformers' SDPA, as do CPU and fp32 rows
when no kernel for them was given.
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
    """Make ``NAME`` an attention implementation (idempotent), with its mask function."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, mask)


def mask(batch_size: int, q_length: int, kv_length: int, q_offset: int = 0, kv_offset: int = 0,
         attention_mask: torch.Tensor | None = None, **kwargs):
    """None for whole unpadded rows (``attention`` finds their sequences); SDPA's mask otherwise."""
    from transformers.masking_utils import sdpa_mask

    if attention_mask is None and q_length == kv_length and not q_offset and not kv_offset:
        return None
    return sdpa_mask(batch_size=batch_size, q_length=q_length, kv_length=kv_length, q_offset=q_offset,
                     kv_offset=kv_offset, attention_mask=attention_mask, **kwargs)


def suitable(config) -> bool:
    """A causal decoder that attends through SDPA with nothing this attention does not do."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    windowed = any(kind != "full_attention" for kind in (getattr(text, "layer_types", None) or [])) or (
        getattr(text, "sliding_window", None) is not None and getattr(text, "use_sliding_window", True)
        and not getattr(text, "layer_types", None))
    head = getattr(text, "qk_head_dim", None) or getattr(text, "head_dim", None)
    other_values = getattr(text, "v_head_dim", None) not in (None, head)  # e.g. DeepSeek's latent attention
    return (getattr(config, "_attn_implementation", None) == "sdpa" and not windowed and not other_values
            and getattr(text, "attn_logit_softcapping", None) is None
            and not getattr(text, "attention_dropout", 0.0) and not getattr(config, "is_encoder_decoder", False))


def use(model, kernel=None) -> bool:
    """Switch ``model`` (a peft wrapper too) to this attention, where ``suitable``; whether it
    did. ``kernel``: what computes packed rows (default the flash kernel where it runs;
    ``reference_kernel`` in tests on the CPU)."""
    global _KERNEL, _OPTIONS
    if not suitable(model.config):
        return False
    register()
    if kernel is None and available():
        from torch.nn.attention.varlen import varlen_attn

        # Decided here, outside compiled code: torch 2.9-2.11 take ``is_causal``, later ones
        # ``window_size``; from 2.13 grouped-query heads need no copies of keys and values.
        accepted = inspect.signature(varlen_attn).parameters
        _OPTIONS = {"window_size": (-1, 0)} if "window_size" in accepted else {"is_causal": True}
        _OPTIONS.update({"enable_gqa": True} if "enable_gqa" in accepted else {})
        kernel = flash_kernel
    _KERNEL = kernel
    model.set_attn_implementation(NAME)
    return model.config._attn_implementation == NAME


_KERNEL = None  # set by use(); None: whole rows go one SDPA call per sequence (reference_kernel)
_OPTIONS: dict = {}  # the flash kernel's causal and grouped-query keywords


def attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
              **kwargs):
    """transformers' attention signature: (batch, heads, tokens, dim) in, (batch, tokens, heads, dim) out."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    starts, longest = kwargs.get("cu_seq_lens_q"), kwargs.get("max_length_q")
    whole_rows = attention_mask is None and query.shape[2] == key.shape[2] and query.shape[2] > 1
    if not whole_rows or not kwargs.get("is_causal", getattr(module, "is_causal", True)):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    if starts is None or query.shape[0] != 1:  # rows from elsewhere: their sequences from the position ids
        starts, longest = row_boundaries(kwargs.get("position_ids"), query.shape[0], query.shape[2], query.device)
    # ``suitable`` keeps out attention dropout and value heads of another size; should either
    # still come, one SDPA call per sequence keeps the examples apart (without the dropout).
    kernel = reference_kernel if dropout or value.shape[-1] != query.shape[-1] else _kernel_for(query)
    return packed(query, key, value, starts, query.shape[2] if longest is None else longest, scaling, kernel), None


def row_boundaries(positions, rows: int, length: int, device):
    """Sequence starts over ``rows`` rows laid end to end: every row's start, and every
    position 0 (packed sequences restart there); no position ids: one sequence a row."""
    starts = torch.arange(rows, device=device) * length
    if positions is not None:
        zero = torch.nonzero(positions.expand(rows, length).reshape(-1) == 0).flatten()
        starts = torch.unique(torch.cat([starts, zero.to(device)]))
    starts = torch.cat([starts, torch.tensor([rows * length], device=device)]).to(torch.int32)
    return starts, int((starts[1:] - starts[:-1]).max())


def packed(query, key, value, starts, longest: int, scaling: float | None, kernel):
    """Rows laid end to end, every sequence in them attending causally to its own tokens."""
    rows, length = query.shape[0], query.shape[2]
    # (rows, heads, tokens, dim) -> (rows x tokens, heads, dim), the kernels' layout
    q, k, v = (t.transpose(1, 2).reshape(rows * length, t.shape[1], t.shape[3]) for t in (query, key, value))
    groups = q.shape[1] // k.shape[1]
    if groups > 1 and not (kernel is flash_kernel and _OPTIONS.get("enable_gqa")):
        # grouped-query attention: each key/value head serves `groups` query heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    starts = starts.to(device=q.device, dtype=torch.int32)
    out = kernel(q.contiguous(), k.contiguous(), v.contiguous(), starts, longest, scaling)
    return out.reshape(rows, length, out.shape[1], out.shape[2])


def _kernel_for(query):
    """The flash kernel for half-precision GPU rows, else one SDPA call per sequence."""
    if _KERNEL is flash_kernel and not (query.is_cuda and query.dtype in (torch.bfloat16, torch.float16)):
        return reference_kernel
    return _KERNEL or reference_kernel


def flash_kernel(q, k, v, starts, longest: int, scaling: float | None):
    from torch.nn.attention.varlen import varlen_attn

    return varlen_attn(q, k, v, starts, starts, longest, longest, scale=scaling, **_OPTIONS)


def reference_kernel(q, k, v, starts, longest: int, scaling: float | None):
    """What the flash kernel computes, one SDPA call per sequence (any device; the CPU's)."""
    bounds = starts.tolist()
    parts = [torch.nn.functional.scaled_dot_product_attention(
        q[a:b].transpose(0, 1), k[a:b].transpose(0, 1), v[a:b].transpose(0, 1), is_causal=True, scale=scaling)
        for a, b in zip(bounds, bounds[1:], strict=False)]
    return torch.cat(parts, dim=1).transpose(0, 1)
