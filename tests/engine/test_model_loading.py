"""Tokenizer fallbacks and clear model errors."""

from __future__ import annotations

import json
import shutil

import pytest

from studio.core.datasets import Example, Message
from studio.engine.data_prep import IGNORE, encode_example
from studio.engine.model_loading import (
    FALLBACK_CHAT_TEMPLATE,
    ModelLoadError,
    load_tokenizer,
    resolve_model_path,
)


def test_a_model_without_chat_template_gets_the_fallback(tiny_model_dir, tmp_path):
    folder = tmp_path / "no-template"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    config.pop("pad_token", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = load_tokenizer(folder)
    assert tokenizer.chat_template == FALLBACK_CHAT_TEMPLATE
    assert tokenizer.pad_token is not None
    example = Example(kind="chat", messages=(Message("user", "hi"), Message("assistant", "Ahoy! ⚓")))
    enc = encode_example(example, tokenizer, 128)
    text = tokenizer.decode(enc.input_ids)
    assert text.startswith("### User:\nhi") and "### Assistant:\nAhoy! ⚓" in text
    trained = tokenizer.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE])
    assert trained.startswith("Ahoy! ⚓") and tokenizer.eos_token in trained


def test_missing_and_incomplete_model_paths_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_model_path(str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        resolve_model_path(str(tmp_path / "empty"))


def test_a_folder_holding_one_gguf_resolves_to_it(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.Q8_0.gguf").write_bytes(b"GGUF")
    assert resolve_model_path(str(tmp_path / "m")).name == "model.Q8_0.gguf"


def test_a_gguf_is_converted_from_one_parse_of_its_file(tiny_model_dir, tmp_path, monkeypatch):
    """transformers reads a GGUF's header for the config, the tokenizer and the weights: one
    reader serves the three (3.6 s each for the bundled model), and the weights come out the same."""
    import gguf
    import torch
    from transformers import AutoModelForCausalLM

    from studio.engine import gguf_export
    from studio.engine.model_loading import ensure_hf_folder, load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tokenizer = load_tokenizer(tiny_model_dir)
    path = gguf_export.write_gguf(model, tokenizer, tmp_path / "tiny.gguf", "f16")
    opened: list[str] = []
    real = gguf.GGUFReader

    def counted(*args, **kwargs):
        opened.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", counted)
    folder = ensure_hf_folder(path)
    assert opened == [str(path)]
    assert gguf.GGUFReader is counted  # put back after the conversion
    converted = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    with torch.no_grad():
        torch.testing.assert_close(converted(input_ids=ids).logits, model(input_ids=ids).logits, rtol=1e-2, atol=1e-2)
