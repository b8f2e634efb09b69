"""A .gguf model's tokenizer, extracted alone in a child process, counts what training counts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from studio.core.datasets import load_tokenizer
from studio.core.models import bundled_model_path, gguf_tokenizer_dir

pytestmark = pytest.mark.integration  # a child process importing transformers


def test_the_extracted_tokenizer_is_the_converted_models(bundled_model, studio_home):
    gguf = bundled_model_path()
    done = subprocess.run([sys.executable, "-m", "studio.engine.gguf_tokenizer", str(gguf)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    folder = gguf_tokenizer_dir(gguf)
    assert done.stdout.strip() == str(folder) and str(folder).startswith(str(studio_home))
    extracted, converted = load_tokenizer(folder / "tokenizer.json"), load_tokenizer(bundled_model / "tokenizer.json")
    texts = ["Ahoy! Who be ye?", "<|im_start|>user\nName the capital of France.<|im_end|>\n", "naïve café 日本 🏴‍☠️"]
    assert [extracted.encode(t).ids for t in texts] == [converted.encode(t).ids for t in texts]


def test_a_file_that_is_not_gguf_fails_in_one_line(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file at all")
    done = subprocess.run([sys.executable, "-m", "studio.engine.gguf_tokenizer", str(bad)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"cannot read the tokenizer of {bad}")
