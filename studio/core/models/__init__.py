"""Base models: find them and read their metadata without torch.

Discovery and metadata reading live in core (not the engine) because the GUI
lists models and estimates VRAM without ever importing torch.
"""

from studio.core.models.config_reader import estimate_num_parameters, read_safetensors_header
from studio.core.models.discovery import (
    BUNDLED_ID,
    bundled_model_path,
    check_loadable,
    default_hf_cache_dir,
    discover_models,
    discover_models_with_problems,
    inspect_model,
    model_source,
)
from studio.core.models.gguf_reader import (
    GGUFMetadata,
    gguf_key,
    gguf_tokenizer_dir,
    read_gguf_metadata,
)
from studio.core.models.info import ModelError, ModelInfo

__all__ = [
    "BUNDLED_ID",
    "GGUFMetadata",
    "ModelError",
    "ModelInfo",
    "bundled_model_path",
    "check_loadable",
    "default_hf_cache_dir",
    "discover_models",
    "discover_models_with_problems",
    "estimate_num_parameters",
    "inspect_model",
    "model_source",
    "gguf_key",
    "gguf_tokenizer_dir",
    "read_gguf_metadata",
    "read_safetensors_header",
]
