"""Read a Hugging Face model folder (config.json + safetensors) without loading it.

The parameter count comes from the safetensors headers (an 8-byte length and a
JSON table of shapes), so a 70B checkpoint is sized in milliseconds and nothing
but the headers is read. Folders without safetensors (config only, or
``pytorch_model.bin``) get an estimate from the config instead. Every failure is a
``ModelError`` naming the file, because a half-downloaded model is common and
the user needs to know which file to fetch again.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from studio.core.models import unsupported
from studio.core.models.info import ModelError, ModelInfo, Source

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit

# fmt: off
# safetensors dtype → (torch name, bytes per element); None: packed or unknown.
_DTYPES: dict[str, tuple[str, int | None]] = {
    "F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2),
    "BF16": ("bfloat16", 2), "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1),
    "U64": ("uint64", 8), "U32": ("uint32", 4), "U16": ("uint16", 2), "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}
_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
# Buffers some checkpoints save beside the weights; they are not parameters.
_BUFFER_SUFFIXES = (".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")
# model_types whose MLP has two matrices with biases (GPT-2 style), not gate/up/down.
_TWO_MATRIX_MLP = {"gpt2", "gpt_neox", "gptj", "gpt_bigcode", "opt", "phi", "falcon", "bloom",
                   "starcoder2"}
# Known causal LMs, for configs that lack "architectures".
_KNOWN_CAUSAL = {
    "llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM", "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
    "phi3": "Phi3ForCausalLM", "phi": "PhiForCausalLM", "gpt2": "GPT2LMHeadModel",
}
# The transformers config classes that default tie_word_embeddings to False
# (the base class defaults it to True).
_UNTIED_BY_DEFAULT = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
                      "phi3", "olmo", "olmo2"}

# Older and non-Llama configs name the same sizes differently.
_ALIASES = {
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "num_attention_heads": ("num_attention_heads", "n_head"),
    "intermediate_size": ("intermediate_size", "n_inner", "ffn_dim"),
    "max_position_embeddings": ("max_position_embeddings", "n_positions", "n_ctx"),
    "num_key_value_heads": ("num_key_value_heads",),
    "vocab_size": ("vocab_size",),
}
# fmt: on


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a ModelError saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_safetensors_header(path: Path) -> dict[str, dict[str, Any]]:
    """Tensor name → {"dtype", "shape", "data_offsets"}, checked against the file size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ModelError(
                    f"{path}: not a safetensors file ({size} bytes, too short for a header)"
                )
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise ModelError(
                    f"{path}: header claims {n} bytes but the file has {size}: "
                    "truncated (incomplete download?) or not a safetensors file"
                )
            raw = fh.read(n)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc}") from None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: safetensors header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    data_bytes = size - 8 - n
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            count = _product(shape)
            if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
                raise ValueError(entry)
        except (KeyError, TypeError, ValueError):
            raise ModelError(
                f"{path}: tensor {name!r} has a malformed header entry: {entry!r}"
            ) from None
        if end > data_bytes:
            raise ModelError(
                f"{path}: truncated (incomplete download?): tensor {name!r} ends at byte "
                f"{end} of the data but the file holds only {data_bytes}"
            )
        itemsize = _DTYPES.get(dtype, ("", None))[1]
        if itemsize is not None and end - begin != count * itemsize:
            raise ModelError(
                f"{path}: tensor {name!r} of shape {shape} ({dtype}) needs "
                f"{count * itemsize} bytes but the header gives {end - begin}"
            )
    return header


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files that hold the model: the index's shards, or model.safetensors."""
    index = folder / INDEX_FILE
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelError(f"{index}: has no 'weight_map'")
        if not all(isinstance(v, str) for v in weight_map.values()):
            raise ModelError(f"{index}: 'weight_map' values must be file names")
        shards = [folder / name for name in sorted(set(weight_map.values()))]
        missing = [p.name for p in shards if not p.is_file()]
        if missing:
            raise ModelError(
                f"{index}: lists shards that are missing (incomplete download?): "
                + ", ".join(missing)
            )
        return shards
    single = folder / SINGLE_FILE
    return [single] if single.is_file() else []


def estimate_num_parameters(config: dict[str, Any]) -> int | None:
    """Parameters implied by a config: exact for Llama- and GPT-2-style models, close for
    the rest (extra norms and biases of other families are left out). None if sizes are missing."""
    cfg = _text_config(config)
    h, layers, heads = (
        _get(cfg, "hidden_size"),
        _get(cfg, "num_hidden_layers"),
        _get(cfg, "num_attention_heads"),
    )
    vocab = _get(cfg, "vocab_size")
    if not (h and layers and heads and vocab):
        return None
    model_type = str(cfg.get("model_type", ""))
    head_dim = cfg.get("head_dim")
    head_dim = head_dim if isinstance(head_dim, int) and head_dim > 0 else h // heads
    kv_heads = _get(cfg, "num_key_value_heads") or heads
    two_matrix = model_type in _TWO_MATRIX_MLP
    inter = _get(cfg, "intermediate_size") or 4 * h
    embed = vocab * h
    if model_type == "gpt2":  # learned positions, biases everywhere, LayerNorm with bias
        embed += (_get(cfg, "max_position_embeddings") or 1024) * h
        attn = h * 3 * h + 3 * h + h * h + h
        mlp = 2 * h * inter + inter + h
        norms, final_norm = 4 * h, 2 * h
    else:
        q, kv = heads * head_dim, kv_heads * head_dim
        attn = h * q + 2 * h * kv + q * h
        if cfg.get("attention_bias"):
            attn += q + 2 * kv + h
        elif model_type.startswith("qwen2"):  # Qwen2 always has q/k/v biases
            attn += q + 2 * kv
        mlp = (2 if two_matrix else 3) * h * inter
        norms, final_norm = 2 * h, h
    experts = cfg.get("num_local_experts") or cfg.get("num_experts")
    if isinstance(experts, int) and experts > 1:
        moe_inter = cfg.get("moe_intermediate_size")
        inter = moe_inter if isinstance(moe_inter, int) else inter
        mlp = experts * 3 * h * inter + h * experts  # experts + router
    total = embed + layers * (attn + mlp + norms) + final_norm
    if not tie_word_embeddings(cfg):
        total += vocab * h
    return total


def tie_word_embeddings(config: dict[str, Any]) -> bool:
    value = config.get("tie_word_embeddings")
    if value is None:
        return str(config.get("model_type", "")) not in _UNTIED_BY_DEFAULT
    return bool(value)


def causal_lm_architecture(config: dict[str, Any]) -> str | None:
    """The causal-LM class the config names (or implies); None if it is not a causal LM."""
    archs = config.get("architectures") or []
    for arch in archs if isinstance(archs, list) else []:
        if isinstance(arch, str) and (arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel")):
            return arch
    if not archs:
        return _KNOWN_CAUSAL.get(str(config.get("model_type", "")))
    return None


def quantization_of(config: dict[str, Any]) -> str | None:
    """A short label for ``quantization_config``, e.g. 'bitsandbytes 4bit nf4' or 'gptq 4bit'."""
    q = config.get("quantization_config")
    if not isinstance(q, dict):
        return None
    method = str(
        q.get("quant_method")
        or ("bitsandbytes" if "load_in_4bit" in q or "load_in_8bit" in q else "unknown")
    )
    if method == "bitsandbytes":
        if q.get("load_in_4bit"):
            return f"bitsandbytes 4bit {q.get('bnb_4bit_quant_type', 'fp4')}"
        return "bitsandbytes 8bit"
    bits = q.get("bits") or q.get("w_bit")
    return f"{method} {bits}bit" if bits else method


def has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    tok = folder / "tokenizer_config.json"
    return tok.is_file() and bool(read_json(tok).get("chat_template"))


def read_folder(folder: Path, *, id: str, name: str, source: Source) -> ModelInfo:
    """A ModelInfo for a folder with config.json. Raises ModelError if it is unreadable
    or not a causal language model."""
    config_file = folder / "config.json"
    config = read_json(config_file)
    if refused := unsupported.refusal(config):  # before the causal check: MambaForCausalLM is one by name
        raise ModelError(f"{config_file}: {refused}")
    architecture = causal_lm_architecture(config)
    if architecture is None:
        raise ModelError(f"{config_file}: {unsupported.not_causal(config)}")
    cfg = _text_config(config)
    sizes = {key: _get(cfg, key, config_file) for key in _ALIASES}

    files = weight_files(folder)
    counts: dict[str, int] = {}
    for file in files:
        for tensor, entry in read_safetensors_header(file).items():
            if tensor.endswith(_BUFFER_SUFFIXES):
                continue
            if tensor.endswith("lm_head.weight") and tie_word_embeddings(cfg):
                continue  # saved, but tied to the embeddings when loaded
            counts[entry["dtype"]] = counts.get(entry["dtype"], 0) + _product(entry["shape"])
    quantization = quantization_of(config)
    estimate = estimate_num_parameters(config)
    # Quantized checkpoints pack several weights per stored element, so for them the
    # headers undercount and the config's estimate is the better number.
    num_parameters = (
        sum(counts.values()) if counts and not (quantization and estimate) else estimate
    )

    floats = {k: v for k, v in counts.items() if k in _FLOAT_DTYPES}
    if floats:
        dtype: str | None = _DTYPES[max(floats, key=floats.__getitem__)][0]
    else:
        dtype = config.get("torch_dtype") or config.get("dtype") or cfg.get("torch_dtype")
    if not files:
        files = sorted(folder.glob("pytorch_model*.bin"))
    return ModelInfo(
        id=id,
        name=name,
        source=source,
        path=folder,
        architecture=architecture,
        model_type=str(config.get("model_type", "")),
        num_parameters=num_parameters,
        num_layers=sizes["num_hidden_layers"],
        hidden_size=sizes["hidden_size"],
        intermediate_size=sizes["intermediate_size"],
        num_attention_heads=sizes["num_attention_heads"],
        num_key_value_heads=sizes["num_key_value_heads"] or sizes["num_attention_heads"],
        vocab_size=sizes["vocab_size"],
        max_position_embeddings=sizes["max_position_embeddings"],
        tie_word_embeddings=tie_word_embeddings(cfg),
        dtype=str(dtype) if dtype else None,
        quantization=quantization,
        size_bytes=sum(p.stat().st_size for p in files),
        has_chat_template=has_chat_template(folder),
        config=config,
    )


def _get(cfg: dict[str, Any], key: str, file: Path | None = None) -> int | None:
    for alias in _ALIASES[key]:
        value = cfg.get(alias)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            where = f"{file}: " if file else ""
            raise ModelError(f"{where}{alias!r} must be a positive integer, got {value!r}")
        return value
    return None


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    """The language model's part of a config (multimodal configs nest it in text_config)."""
    text = config.get("text_config")
    if isinstance(text, dict) and "hidden_size" not in config:
        return {**text, "model_type": text.get("model_type", config.get("model_type"))}
    return config


def _product(shape: list[int]) -> int:
    n = 1
    for dim in shape:
        if not isinstance(dim, int) or dim < 0:
            raise ValueError(dim)
        n *= dim
    return n
