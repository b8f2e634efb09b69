"""A merged Llama-family model as a GGUF file (f16 or q8_0), for llama.cpp and Ollama.

The ``gguf`` package does the file format, the tensor names (``TensorNameMap``) and
the q8_0 blocks; this module only says what goes in: the model's hyperparameters, its
byte-level BPE tokenizer (tokens, types, merges, special ids, chat template) and its
weights, with the query/key rows permuted the way llama.cpp's converter does (and
transformers' GGUF reader undoes). A ``Modelfile`` beside it lets ``ollama create`` use it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch

ARCHITECTURES = {"llama": gguf.MODEL_ARCH.LLAMA, "mistral": gguf.MODEL_ARCH.LLAMA}
TYPES = {"f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
         "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0)}


class GGUFExportError(ValueError):
    """A model this writer can't express (an architecture or tokenizer it doesn't know)."""


def write_gguf(model, tokenizer, path: Path, kind: str = "q8_0", name: str = "") -> Path:
    """Write ``model`` (a merged, plain transformers model) and its tokenizer to ``path``."""
    config = model.config
    model_type = getattr(config, "model_type", "")
    if model_type not in ARCHITECTURES:
        raise GGUFExportError(f"GGUF export knows Llama-family models ({', '.join(ARCHITECTURES)}), "
                              f"not {model_type!r}; export the merged model as safetensors instead")
    if kind not in TYPES:
        raise GGUFExportError(f"GGUF type must be one of {', '.join(TYPES)}, got {kind!r}")
    arch = ARCHITECTURES[model_type]
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    _hyperparameters(writer, config, name or Path(path).stem, TYPES[kind][1])
    _tokenizer(writer, tokenizer)
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp and transformers take the embeddings for it
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        target = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise GGUFExportError(f"no GGUF name for tensor {hf_name!r}")
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = _permute(data, heads, heads)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute(data, heads, kv_heads)
        _add_tensor(writer, target, data, kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)


def _hyperparameters(writer: gguf.GGUFWriter, config, name: str, file_type) -> None:
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.num_key_value_heads or heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(_rope_theta(config)))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _rope_theta(config) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    return params.get("rope_theta") or getattr(config, "rope_theta", 10000.0)


def _tokenizer(writer: gguf.GGUFWriter, tokenizer) -> None:
    """A byte-level BPE tokenizer (GPT-2 style, as Llama 3, SmolLM and Qwen use)."""
    data = json.loads(tokenizer.backend_tokenizer.to_str())
    model = data.get("model", {})
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(data.get("pre_tokenizer") or {}):
        raise GGUFExportError("GGUF export writes byte-level BPE tokenizers (Llama 3, SmolLM, Qwen style); this "
                              "one is SentencePiece-style (Llama 2, Mistral): export as safetensors and convert "
                              "with llama.cpp's convert_hf_to_gguf.py")
    size = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
    tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
    special = set(tokenizer.all_special_ids)
    added = {t["id"]: t for t in data.get("added_tokens", [])}
    types = []
    for index in range(size):
        if index in special or added.get(index, {}).get("special"):
            types.append(gguf.TokenType.CONTROL)
        elif index in added:
            types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(tokenizer, size))
    writer.add_token_list([t if t is not None else f"[PAD{i}]" for i, t in enumerate(tokens)])
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for setter, token_id in ((writer.add_bos_token_id, tokenizer.bos_token_id),
                             (writer.add_eos_token_id, tokenizer.eos_token_id),
                             (writer.add_unk_token_id, tokenizer.unk_token_id),
                             (writer.add_pad_token_id, tokenizer.pad_token_id)):
        if token_id is not None:
            setter(int(token_id))
    writer.add_add_bos_token(bool(getattr(tokenizer, "add_bos_token", False)))
    writer.add_add_space_prefix(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def _pre_tokenizer(tokenizer, vocab: int) -> str:
    """llama.cpp's name for how text is split before BPE (digits, punctuation): it knows
    each family's by name; the ones this export can tell apart, else its default."""
    source = str(getattr(tokenizer, "name_or_path", "")).lower()
    if "smollm" in source or vocab == 49152:
        return "smollm"
    if vocab in (128000, 128256):
        return "llama-bpe"
    return "default"


def _permute(weights: np.ndarray, heads: int, kv_heads: int) -> np.ndarray:
    """llama.cpp's row order for rotary query/key projections (interleaved halves)."""
    if kv_heads != heads:
        heads = kv_heads
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _add_tensor(writer: gguf.GGUFWriter, name: str, data: np.ndarray, kind: str) -> None:
    if data.ndim < 2:  # norms stay fp32, as llama.cpp keeps them
        writer.add_tensor(name, data.astype(np.float32))
    elif kind == "f16":
        writer.add_tensor(name, data.astype(np.float16))
    elif data.shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0:
        writer.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                          raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:  # a row length q8_0 can't block: f16 for this one tensor
        writer.add_tensor(name, data.astype(np.float16))


def modelfile(gguf_name: str, tokenizer, system: str = "") -> str:
    """An Ollama Modelfile for the GGUF beside it (ChatML models get their template)."""
    lines = [f"FROM ./{gguf_name}"]
    template = getattr(tokenizer, "chat_template", "") or ""
    if "<|im_start|>" in template:
        lines += ['TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}',
                  '{{ .Content }}<|im_end|>',
                  '{{ end }}<|im_start|>assistant',
                  '"""',
                  'PARAMETER stop "<|im_end|>"']
    if tokenizer.eos_token and tokenizer.eos_token != "<|im_end|>":
        lines.append(f'PARAMETER stop "{tokenizer.eos_token}"')
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def greedy_tokens(model, tokenizer, prompts: list[str], max_new_tokens: int = 16) -> list[list[int]]:
    """Greedy answers (token ids) to each prompt through the chat template."""
    out: list[list[int]] = []
    for prompt in prompts:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            answer = model.generate(input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)
        out.append(answer[0, ids.shape[1]:].tolist())
    return out


def greedy_agreement(model, tokenizer, prompts: list[str], answers: list[list[int]]) -> float:
    """Share of the answer tokens that ``model`` would also pick greedily, fed the same
    prefix each time (one early rounding difference does not count against every later token)."""
    agree = total = 0
    for prompt, answer in zip(prompts, answers, strict=True):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)["input_ids"]
        full = torch.cat([ids, torch.tensor([answer], dtype=ids.dtype)], dim=1)
        with torch.no_grad():
            picks = model(input_ids=full).logits[0, ids.shape[1] - 1:-1].argmax(-1).tolist()
        agree += sum(a == b for a, b in zip(picks, answer, strict=True))
        total += len(answer)
    return agree / total if total else 1.0


def same_tokens(ours, theirs, prompts: list[str]) -> bool:
    """Whether two tokenizers give the same ids for each prompt in ``ours``'s chat format."""
    for prompt in prompts:
        text = ours.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                        tokenize=False)
        if ours(text, add_special_tokens=False)["input_ids"] != theirs(text, add_special_tokens=False)["input_ids"]:
            return False
    return True


def describe(path: Path) -> dict[str, Any]:
    reader = gguf.GGUFReader(str(path))
    return {"file": str(path), "bytes": path.stat().st_size, "tensors": len(reader.tensors)}
