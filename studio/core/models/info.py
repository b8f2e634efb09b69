"""What the app knows about one base model, read from its files without loading it.

The Models page, the VRAM estimator and the adapter card all need the same facts
(architecture, sizes, parameter count, dtype, quantization) long before a worker
loads the weights, and they must get them without importing torch. One frozen
record keeps those facts, whichever kind of file they came from (a Hugging Face
folder, a hub-cache snapshot, a GGUF file), so no caller needs to know which.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Source = Literal["bundled", "hf_cache", "folder", "gguf"]


class ModelError(ValueError):
    """A model's files cannot be read; the message names the file and the problem."""


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """One base model as found on disk. Sizes are ``None`` where the files don't say."""

    id: str = field(
        metadata={"help": "Stable id: 'bundled:…', 'hf:org/name@rev', 'path:…', 'gguf:…'"}
    )
    name: str = field(metadata={"help": "Name to show"})
    source: Source = field(metadata={"help": "Where it was found"})
    path: Path = field(metadata={"help": "The model folder, or the .gguf file itself"})
    gguf_file: str | None = field(
        default=None, metadata={"help": "File name of the .gguf, if it is one"}
    )
    architecture: str = field(metadata={"help": "Hugging Face class name, e.g. LlamaForCausalLM"})
    model_type: str = field(metadata={"help": "Hugging Face model_type, e.g. llama"})
    num_parameters: int | None = field(default=None, metadata={"help": "Parameter count"})
    num_layers: int | None = None
    hidden_size: int | None = None
    intermediate_size: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    vocab_size: int | None = None
    max_position_embeddings: int | None = None
    tie_word_embeddings: bool = False
    dtype: str | None = field(
        default=None, metadata={"help": "Weight dtype ('bfloat16'), or the GGUF file type ('Q4_1')"}
    )
    quantization: str | None = field(
        default=None,
        metadata={"help": "e.g. 'gguf Q4_1', 'bitsandbytes 4bit nf4'; None if not quantized"},
    )
    size_bytes: int = field(default=0, metadata={"help": "Size of the weight files on disk"})
    has_chat_template: bool = False
    # The Hugging Face-style config (for GGUF: built from its metadata). Treat as
    # read-only; it is left out of hashing because dicts cannot be hashed.
    config: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (the path as a string)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, dict):
                value = copy.deepcopy(value)
            out[f.name] = value
        return out
