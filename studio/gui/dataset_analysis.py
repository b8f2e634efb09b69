"""What the Datasets page needs from the chosen model's files: its tokenizer and chat template.

The page measures token lengths and shows which tokens count toward the loss the
way the engine will, but without transformers: the tokenizer.json goes to the
`tokenizers` library (through core's `token_length_stats`) and the chat template
to jinja2 (core's `render_chat`). Everything here reads files, so the page calls
it from the thread pool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core import paths
from studio.core.chat_segments import FALLBACK_CHAT_TEMPLATE, example_segments, render_chat
from studio.core.datasets import Example, TokenStats, render_plain, token_length_stats
from studio.core.models import ModelError, ModelInfo, gguf_tokenizer_dir, read_gguf_metadata

# Rendering through a template costs ~1 ms an example; past this many, token lengths use
# core's plain role tags (a few tokens off per turn) so a big file is measured in seconds.
TEMPLATE_MEASURE_LIMIT = 5000
_SPECIAL_TOKENS = ("bos_token", "eos_token", "pad_token", "unk_token")


@dataclass(frozen=True)
class ChatTemplate:
    text: str
    origin: str  # where it came from, to show the user
    special_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def eos_token(self) -> str:
        return self.special_tokens.get("eos_token", "")

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = False,
               tools: list[dict[str, Any]] | None = None) -> str:
        return render_chat(self.text, messages, add_generation_prompt, tools=tools, **self.special_tokens)

    def segments(self, example: Example) -> list[tuple[str, bool]]:
        """(text, counts toward the loss) pieces of one example, as the engine splits them."""
        return example_segments(example, self.render, self.eos_token, self.text)

    def full_text(self, example: Example) -> str:
        if example.kind == "chat" and (example.uses_tools or any(m.reasoning for m in example.messages)):
            return "".join(text for text, _trained in self.segments(example))  # tools written as the engine does
        if example.kind == "chat":
            return self.render([{"role": m.role, "content": m.content} for m in example.messages])
        if example.kind == "completion":
            return example.prompt + example.completion + self.eos_token
        return example.text + self.eos_token


@dataclass(frozen=True)
class TokenReport:
    template: ChatTemplate
    stats: TokenStats | None
    note: str  # how the lengths were measured, or why they could not be
    gguf_without_tokenizer: Path | None = None  # a .gguf whose tokenizer can be extracted (then measure again)


def _converted_folders(model: ModelInfo | None) -> list[Path]:
    """Folders in <home>/models (converted GGUFs): this model's own conversion first."""
    try:
        folders = sorted(p for p in paths.models_dir().iterdir() if p.is_dir())
    except OSError:
        return []
    mine = [p for p in folders if _is_conversion_of(p, model)]
    return mine + [p for p in folders if p not in mine]


def _is_conversion_of(folder: Path, model: ModelInfo | None) -> bool:
    return bool(model and model.gguf_file and folder.name.startswith(Path(model.gguf_file).stem + "-"))


def find_tokenizer_json(model: ModelInfo | None) -> Path | None:
    """The model folder's tokenizer.json. A .gguf has none of its own: its extracted tokenizer
    (engine.gguf_tokenizer) or its conversion's, else any converted model's (lengths of a related
    tokenizer beat none)."""
    if model is not None and model.path.is_dir():
        folders = [model.path]
    else:
        folders = [own for own in [_extracted_tokenizer(model)] if own] + _converted_folders(model)
    return next((f / "tokenizer.json" for f in folders if (f / "tokenizer.json").is_file()), None)


def _extracted_tokenizer(model: ModelInfo | None) -> Path | None:
    if model is None or not model.gguf_file or not model.path.is_file():
        return None
    try:
        return gguf_tokenizer_dir(model.path)
    except OSError:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _template_value(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list):  # [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        return _template_value(named.get("default"))
    return None


def _special_tokens(tokenizer_config: dict[str, Any]) -> dict[str, str]:
    tokens = {}
    for key in _SPECIAL_TOKENS:
        value = tokenizer_config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            tokens[key] = value
    return tokens


def _folder_template(folder: Path, tokenizer_config: dict[str, Any]) -> str | None:
    text = _template_value(tokenizer_config.get("chat_template"))
    jinja = folder / "chat_template.jinja"
    if text is None and jinja.is_file():
        text = _template_value(jinja.read_text(encoding="utf-8", errors="replace"))
    if text is None:
        text = _template_value(_read_json(folder / "chat_template.json").get("chat_template"))
    return text


def find_chat_template(model: ModelInfo | None) -> ChatTemplate:
    """The model's chat template and special tokens, else the engine's fallback."""
    if model is None:
        return ChatTemplate(FALLBACK_CHAT_TEMPLATE, "plain '### Role:' headers (no model selected)")
    own = [model.path] if model.path.is_dir() else \
        [f for f in _converted_folders(model) if _is_conversion_of(f, model)]
    tokens: dict[str, str] = {}
    for folder in own:
        config = _read_json(folder / "tokenizer_config.json")
        tokens = tokens or _special_tokens(config)
        text = _folder_template(folder, config)
        if text is not None:
            return ChatTemplate(text, f"chat template of {model.name}", tokens)
    text = _template_value(model.config.get("chat_template"))
    if text is None and model.gguf_file:
        try:
            text = _template_value(read_gguf_metadata(model.path).fields.get("tokenizer.chat_template"))
        except (ModelError, OSError):
            text = None
    if text is not None:
        return ChatTemplate(text, f"chat template of {model.name}", tokens)
    return ChatTemplate(FALLBACK_CHAT_TEMPLATE, "plain '### Role:' headers (the model has no chat template)",
                        tokens)


def measure_tokens(examples: Sequence[Example], model: ModelInfo | None, max_length: int) -> TokenReport:
    """Token lengths of every example with the model's tokenizer (runs on the thread pool)."""
    template = find_chat_template(model)
    tokenizer = find_tokenizer_json(model)
    if tokenizer is None:
        if model is None:
            return TokenReport(template, None, "Select a model (with a tokenizer.json) to see token lengths.")
        if _extracted_tokenizer(model) is not None:
            return TokenReport(template, None, f"Reading the tokenizer out of {model.name} (once, a few seconds)…",
                               gguf_without_tokenizer=model.path)
        return TokenReport(template, None, f"{model.name} has no tokenizer.json, so token lengths are unknown.")
    exact = len(examples) <= TEMPLATE_MEASURE_LIMIT

    def render(example: Example) -> str:
        try:
            return template.full_text(example)
        except Exception:  # noqa: BLE001 - a template that refuses a row: count it with plain tags instead
            return render_plain(example)

    try:
        stats = token_length_stats(examples, tokenizer, max_length, render=render if exact else None)
    except (OSError, ValueError) as exc:
        return TokenReport(template, None, f"Cannot measure token lengths: {exc}")
    own = model is not None and (tokenizer.parent in (model.path, _extracted_tokenizer(model))
                                 or _is_conversion_of(tokenizer.parent, model))
    where = model.name if own and model is not None else tokenizer.parent.name
    how = "through the chat template" if exact else "with plain role tags (large file; close, not exact)"
    return TokenReport(template, stats, f"Tokens of {where}, {how}.")
