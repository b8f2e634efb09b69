"""Everything the app read about one base model, as a read-only pane beside the model list.

Shows every ModelInfo field and a summary of the config, so a user can check a model before spending GPU time on it.
"""

from __future__ import annotations

import html
from dataclasses import fields
from typing import Any

from PySide6.QtWidgets import QTextBrowser, QWidget

from studio.core.models import ModelInfo

SOURCE_LABELS = {"bundled": "bundled", "hf_cache": "HF cache", "folder": "folder", "gguf": "GGUF file"}
_LABELS = {
    "id": "Id", "name": "Name", "source": "Source", "path": "Path", "gguf_file": "GGUF file",
    "architecture": "Architecture", "model_type": "Model type", "num_parameters": "Parameters",
    "num_layers": "Layers", "hidden_size": "Hidden size", "intermediate_size": "MLP size",
    "num_attention_heads": "Attention heads", "num_key_value_heads": "Key/value heads",
    "vocab_size": "Vocabulary", "max_position_embeddings": "Context length",
    "tie_word_embeddings": "Tied embeddings", "dtype": "Weights dtype", "quantization": "Quantization",
    "size_bytes": "Size on disk", "has_chat_template": "Chat template",
}
# Config keys too long or too internal to help a person choosing a model.
_CONFIG_SKIP = {"architectures", "auto_map", "quantization_config", "rope_scaling", "transformers_version"}
_MAX_CONFIG_VALUE = 80


def short_count(n: int | None) -> str:
    """A parameter count the way model names say it: 135M, 1.7B, 70B."""
    if n is None:
        return "?"
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n)


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _value_text(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name == "num_parameters":
        return f"{short_count(value)} ({value:,})"
    if name == "size_bytes":
        return human_bytes(value) if value else "—"
    if name == "source":
        return SOURCE_LABELS.get(value, str(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class ModelDetails(QTextBrowser):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setToolTip("What LoRA Studio read from this model's files (nothing is loaded)")
        self.show_model(None)

    def show_model(self, info: ModelInfo | None) -> None:
        if info is None:
            self.setHtml("<p><i>Select a model to see its details.</i></p>")
            return
        rows = []
        for f in fields(info):
            if f.name == "config":
                continue
            label = html.escape(_LABELS.get(f.name, f.name))
            value = html.escape(_value_text(f.name, getattr(info, f.name)))
            rows.append(f"<tr><td width='38%'><b>{label}</b></td><td>{value}</td></tr>")
        config_rows = [
            f"<tr><td width='50%' nowrap>{html.escape(str(key))}</td><td>{html.escape(_short(value))}</td></tr>"
            for key, value in sorted(info.config.items()) if key not in _CONFIG_SKIP
        ]
        quant = info.config.get("quantization_config")
        if isinstance(quant, dict):
            config_rows.append(f"<tr><td>quantization_config</td><td>{html.escape(_short(quant))}</td></tr>")
        table = "<table cellspacing='0' cellpadding='3' width='100%'>{}</table>"
        self.setHtml(
            f"<h3>{html.escape(info.name)}</h3>"
            + table.format("".join(rows))
            + "<h4>Config</h4>"
            + (table.format("".join(config_rows)) if config_rows else "<p><i>empty</i></p>")
        )

    def text(self) -> str:
        return self.toPlainText()


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_CONFIG_VALUE else text[: _MAX_CONFIG_VALUE - 1] + "…"
