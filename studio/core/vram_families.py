"""What one decoder layer of each model family keeps for the backward pass, per token.

The memory estimate (core.vram) was fitted on Llama-shaped runs; other families keep other
things, and the Llama model was below their measured peaks by 4–11% (issue 26). The terms here
were counted per family on real models (scripts/vram_family_layers.py: saved-tensor hooks, every
storage once; docs/vram_validation.md) and match those counts within 1.5%:

* normalization inputs: RMSNorm upcasts to fp32 (4 bytes per feature), LayerNorm keeps its bf16
  input (2); Gemma 2/3 have four norms a layer, GPT-NeoX's parallel residual feeds both of its
  norms one input;
* attention (SDPA): q and the output at the query width (heads x head_dim, which is not always the
  hidden size: Qwen3-0.6B's is twice it), k and v at the key width; a fused qkv projection (Phi-3,
  GPT-NeoX, GPT-2) keeps its whole output alive through the v view; Qwen3 and Gemma 3 keep fp32
  inputs of their q/k norms; eager attention (Gemma 2 since transformers 5.21, which dropped
  SDPA for its soft-capping) keeps the scores per head and token pair;
* the MLP: gate, activation and up outputs for a gated MLP (SwiGLU, GeGLU; fused or not); a
  mixture of experts does that for each of the top-k experts a token goes to, and keeps their
  outputs for the routing weights; a plain exact GELU keeps its input; GPT-2's tanh GELU is
  written out in Python ops and keeps four tensors;
* dropout on the residual stream (GPT-2's resid_pdrop) keeps a 1-byte mask per feature;
* the loss keeps fp32 logits (4 bytes per vocabulary entry); soft-capped logits (Gemma 2) also
  their bf16 tanh.

Rotary tables and softmax statistics (under 1% of a layer) are left to the fitted per-token
constant in core.vram, as the Llama fit had them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from studio.core import vram_methods
from studio.core.jobs import LoraSettings
from studio.core.presets import MOE_TYPES, num_layers

GEMMA_NORMS = frozenset({"gemma2", "gemma3", "gemma3_text"})  # pre and post norms around attention and MLP
QK_NORM_TYPES = frozenset({"qwen3", "qwen3_moe", "gemma3", "gemma3_text"})
LAYER_NORM_TYPES = frozenset({"gpt2", "gpt_neox", "gptj", "phi", "opt", "bloom", "falcon", "stablelm",
                              "starcoder2"})
FUSED_QKV_TYPES = frozenset({"phi3", "gpt_neox", "gpt2", "falcon", "bloom"})
PYTHON_GELU_TYPES = frozenset({"gpt2"})  # "gelu_new" in Python ops: its input, cube, tanh and half-input
# GPT-NeoX's q, k and v (interleaved per head in its fused output): on the CPU the layer keeps what
# this model says, yet its H100 run without checkpointing peaked a copy of them higher (1.0 GiB of
# 1.1 over 24 layers of 4,096 tokens; docs/vram_validation.md): counted until a profile says where.
GPU_QKV_COPY_TYPES = frozenset({"gpt_neox"})
# transformers 5.21 dropped SDPA for Gemma 2 (SDPA cannot soft-cap the scores): it trains with eager attention.
EAGER_SINCE = {"gemma2": (5, 21)}
LOGIT_BYTES = 4  # the fp32 logits the loss keeps per vocabulary entry
SOFTCAP_BYTES = 2  # and the bf16 tanh of soft-capped logits


@dataclass(frozen=True)
class Widths:
    hidden: int
    query: int  # heads x head_dim: what q and the attention output are wide
    kv: int
    inter: int
    heads: int


def widths(config: dict[str, Any], shapes: dict[str, tuple[int, int]]) -> Widths:
    hidden = int(config.get("hidden_size") or config.get("n_embd") or 0)
    heads = int(config.get("num_attention_heads") or config.get("n_head") or 1)
    head_dim = int(config.get("head_dim") or hidden // heads)
    kv_heads = int(config.get("num_key_value_heads") or heads)
    mlp_outs = [out for name, (fan_in, out) in shapes.items() if fan_in == hidden and out > hidden]
    inter = int(config.get("intermediate_size") or config.get("n_inner") or 0) or max(mlp_outs or [4 * hidden])
    return Widths(hidden, heads * head_dim, kv_heads * head_dim, inter, heads)


def eager_attention(config: dict[str, Any], transformers_version: str | None = None) -> bool:
    """Whether the model's attention runs eagerly (scores kept per head and token pair): asked for
    in its config, or the only choice the installed transformers leaves its family."""
    named = str(config.get("attn_implementation") or config.get("_attn_implementation") or "")
    if named:
        return named == "eager"
    since = EAGER_SINCE.get(str(config.get("model_type")))
    if since is None:
        return False
    return _version_tuple(transformers_version or _installed("transformers")) >= since


def base_layer_bytes(config: dict[str, Any], shapes: dict[str, tuple[int, int]], seq_len: int = 0,
                     eager: bool | None = None, cuda: bool = True) -> int:
    """Bytes per token one frozen bf16 decoder layer keeps for the backward, adapters aside.
    ``seq_len``: the longest row, for eager attention's scores (ignored for SDPA); ``cuda``: with
    what only the GPU runs showed (the CPU count leaves it out)."""
    w = widths(config, shapes)
    model_type = str(config.get("model_type"))
    norm = 2 if model_type in LAYER_NORM_TYPES else 4
    norms = 4 if model_type in GEMMA_NORMS else 1 if config.get("use_parallel_residual") else 2
    kept = norms * norm * w.hidden
    if model_type in QK_NORM_TYPES:
        kept += 4 * (w.query + w.kv)
    if eager if eager is not None else eager_attention(config):
        # q and the repeated k and v at the query width; the scores in fp32 and bf16 (and their
        # soft-capped tanh) per head and key
        kept += 3 * 2 * w.query + w.heads * seq_len * (6 + (2 if config.get("attn_logit_softcapping") else 0))
    else:
        kept += 4 * w.query + 4 * w.kv
        if model_type in FUSED_QKV_TYPES:  # v views the fused output, which stays alive whole
            kept += 2 * (w.query + 2 * w.kv) - 2 * w.kv
        if cuda and model_type in GPU_QKV_COPY_TYPES:
            kept += 2 * (w.query + 2 * w.kv)
    kept += _mlp_bytes(config, shapes, w)
    if float(config.get("resid_pdrop") or config.get("hidden_dropout") or 0) > 0:
        kept += 2 * w.hidden  # a 1-byte mask after attention and one after the MLP
    return kept


def _mlp_bytes(config: dict[str, Any], shapes: dict[str, tuple[int, int]], w: Widths) -> int:
    model_type = str(config.get("model_type"))
    if model_type in MOE_TYPES:
        top_k = int(config.get("num_experts_per_tok") or 2)
        return top_k * (6 * w.inter + 2 * w.hidden)  # each chosen expert's gated MLP, and its output
    if "gate_proj" in shapes or "gate_up_proj" in shapes:
        return 6 * w.inter
    return 8 * w.inter if model_type in PYTHON_GELU_TYPES else 2 * w.inter


def layer_bytes(config: dict[str, Any], shapes: dict[str, tuple[int, int]], modules: list[str], dropout: float,
                lora: LoraSettings, quantization: str = "none", seq_len: int = 0, cuda: bool = True) -> int:
    """``base_layer_bytes`` plus what ``lora``'s adapter keeps per token on ``modules`` (core.vram_methods)."""
    method = vram_methods.adapter_memory(lora, shapes, modules, dropout, quantization)
    return base_layer_bytes(config, shapes, seq_len, cuda=cuda) + int(method.per_token)


def head_bytes_per_entry(config: dict[str, Any]) -> int:
    """What the loss keeps per token and vocabulary entry."""
    return LOGIT_BYTES + (SOFTCAP_BYTES if config.get("final_logit_softcapping") else 0)


def expert_parameters(config: dict[str, Any]) -> int:
    """Parameters of a mixture of experts' expert MLPs and routers (not in presets.linear_shapes:
    transformers 5 keeps them as 3D parameters, not linear layers); 0 for a dense model."""
    if str(config.get("model_type")) not in MOE_TYPES:
        return 0
    experts = int(config.get("num_local_experts") or config.get("n_routed_experts") or 0)
    hidden = int(config.get("hidden_size") or 0)
    inter = int(config.get("moe_intermediate_size") or config.get("intermediate_size") or 0)
    return num_layers(config) * experts * (3 * hidden * inter + hidden)


@functools.lru_cache(maxsize=8)
def _installed(package: str) -> str:
    """The installed version (1 ms to read: the Train page estimates on every keystroke, many times)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "0"


def _version_tuple(version: str) -> tuple[int, int]:
    parts = [int("".join(ch for ch in part if ch.isdigit()) or 0) for part in version.split(".")[:2]]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]
