"""Hugging Face model folders: tiny real config.json + safetensors files, read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from studio.core.models import (
    ModelError,
    estimate_num_parameters,
    inspect_model,
    read_safetensors_header,
)

HIDDEN, INTER, HEADS, KV_HEADS, VOCAB, LAYERS = 32, 64, 4, 2, 100, 2
HEAD_DIM = HIDDEN // HEADS


def tiny_llama_config(tied: bool = False, **extra) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTER,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "vocab_size": VOCAB,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": tied,
        "torch_dtype": "float16",
        **extra,
    }


def tiny_llama_tensors(tied: bool = False) -> dict[str, np.ndarray]:
    """The tensors of a 2-layer Llama, shaped as transformers saves them."""
    shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN), "model.norm.weight": (HIDDEN,)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes |= {
            p + "self_attn.q_proj.weight": (HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.k_proj.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.v_proj.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.o_proj.weight": (HIDDEN, HEADS * HEAD_DIM),
            p + "mlp.gate_proj.weight": (INTER, HIDDEN),
            p + "mlp.up_proj.weight": (INTER, HIDDEN),
            p + "mlp.down_proj.weight": (HIDDEN, INTER),
            p + "input_layernorm.weight": (HIDDEN,),
            p + "post_attention_layernorm.weight": (HIDDEN,),
        }
    if not tied:
        shapes["lm_head.weight"] = (VOCAB, HIDDEN)
    return {name: np.zeros(shape, dtype=np.float16) for name, shape in shapes.items()}


def write_model(
    folder: Path, config: dict, tensors: dict[str, np.ndarray] | None = None, shards: int = 1
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    if tensors is None:
        return folder
    if shards == 1:
        save_file(tensors, str(folder / "model.safetensors"))
        return folder
    names = sorted(tensors)
    weight_map = {}
    for k in range(shards):
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[k::shards]}
        save_file(part, str(folder / file))
        weight_map |= dict.fromkeys(part, file)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    return folder


@pytest.mark.parametrize("tied", [False, True])
def test_parameter_count_is_the_sum_of_elements_and_matches_the_estimate(tmp_path, tied):
    config, tensors = tiny_llama_config(tied), tiny_llama_tensors(tied)
    folder = write_model(tmp_path / "tiny", config, tensors)
    info = inspect_model(folder)

    expected = sum(a.size for a in tensors.values())
    assert info.num_parameters == expected
    assert estimate_num_parameters(config) == expected
    assert (info.id, info.name, info.source, info.path) == (
        f"path:{folder}",
        "tiny",
        "folder",
        folder,
    )
    assert info.gguf_file is None
    assert (info.architecture, info.model_type) == ("LlamaForCausalLM", "llama")
    assert (info.num_layers, info.hidden_size, info.intermediate_size) == (LAYERS, HIDDEN, INTER)
    assert (info.num_attention_heads, info.num_key_value_heads, info.vocab_size) == (
        HEADS,
        KV_HEADS,
        VOCAB,
    )
    assert info.max_position_embeddings == 128
    assert info.tie_word_embeddings is tied
    assert info.dtype == "float16" and info.quantization is None
    assert info.size_bytes == (folder / "model.safetensors").stat().st_size
    assert info.has_chat_template is False
    assert info.config == config


def test_sharded_checkpoint_counts_every_shard(tmp_path):
    tensors = tiny_llama_tensors()
    folder = write_model(tmp_path / "sharded", tiny_llama_config(), tensors, shards=3)
    info = inspect_model(folder)
    assert info.num_parameters == sum(a.size for a in tensors.values())
    assert info.size_bytes == sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def test_missing_shard_is_named(tmp_path):
    folder = write_model(tmp_path / "sharded", tiny_llama_config(), tiny_llama_tensors(), shards=2)
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelError, match="model-00002-of-00002.safetensors"):
        inspect_model(folder)


def test_header_reader_agrees_with_the_safetensors_library(tmp_path):
    tensors = tiny_llama_tensors()
    folder = write_model(tmp_path / "tiny", tiny_llama_config(), tensors)
    header = read_safetensors_header(folder / "model.safetensors")
    with safe_open(str(folder / "model.safetensors"), framework="np") as f:
        assert set(f.keys()) == set(header) == set(tensors)
        for name in f.keys():
            assert list(f.get_slice(name).get_shape()) == header[name]["shape"]
    assert all(entry["dtype"] == "F16" for entry in header.values())


@pytest.mark.parametrize("dtype_key", ["torch_dtype", "dtype"])
def test_config_only_folder_uses_the_estimate_and_config_dtype(tmp_path, dtype_key):
    config = tiny_llama_config()
    del config["torch_dtype"]
    config[dtype_key] = "bfloat16"
    info = inspect_model(write_model(tmp_path / "cfg", config))
    assert info.num_parameters == sum(a.size for a in tiny_llama_tensors().values())
    assert info.dtype == "bfloat16"
    assert info.size_bytes == 0


def test_gpt2_estimate_matches_the_published_count():
    # gpt2's own config.json (the fields that size it); 124,439,808 parameters
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_embd": 768,
        "n_layer": 12,
        "n_head": 12,
        "n_inner": None,
        "n_positions": 1024,
        "vocab_size": 50257,
    }
    assert estimate_num_parameters(config) == 124_439_808


def test_estimate_is_none_without_sizes():
    assert estimate_num_parameters({"model_type": "llama"}) is None


def test_broken_config_json_names_the_file_and_the_problem(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama",\n "hidden_size": 32,,}')
    with pytest.raises(ModelError, match=r"config\.json: invalid JSON at line 2"):
        inspect_model(folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match=r"config\.json: expected a JSON object"):
        inspect_model(folder)
    (folder / "config.json").write_text(json.dumps(tiny_llama_config(hidden_size="big")))
    with pytest.raises(ModelError, match=r"config\.json: 'hidden_size' must be a positive integer"):
        inspect_model(folder)


def test_truncated_safetensors_is_a_clear_error(tmp_path):
    folder = write_model(tmp_path / "cut", tiny_llama_config(), tiny_llama_tensors())
    file = folder / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ModelError, match=r"model\.safetensors: truncated \(incomplete download\?\)"
    ):
        inspect_model(folder)
    file.write_bytes(data[:100])  # cut inside the JSON header
    with pytest.raises(
        ModelError, match=r"model\.safetensors: header claims \d+ bytes but the file has 100"
    ):
        inspect_model(folder)


def test_not_a_causal_lm_is_refused(tmp_path):
    folder = write_model(tmp_path / "bert", {"architectures": ["BertModel"], "model_type": "bert"})
    with pytest.raises(ModelError, match=r"an encoder-only model \(BERT\): it does not generate text\. "
                                         r"LoRA Studio trains causal decoder language models: Llama, Qwen"):
        inspect_model(folder)
    other = write_model(tmp_path / "vit", {"architectures": ["ViTModel"], "model_type": "vit"})
    with pytest.raises(ModelError, match=r"not a causal language model .*LoRA Studio trains causal decoder"):
        inspect_model(other)


@pytest.mark.parametrize(("config", "said"), [
    # MambaForCausalLM is a causal LM by its name: refused for what it is, not for its head
    ({"architectures": ["MambaForCausalLM"], "model_type": "mamba"}, "a state-space model (Mamba)"),
    ({"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2"}, "a state-space model (Mamba-2)"),
    ({"architectures": ["FalconMambaForCausalLM"], "model_type": "falcon_mamba"}, "a state-space model (Falcon Mamba)"),
    ({"d_model": 768, "n_layer": 24, "vocab_size": 50277, "ssm_cfg": {}}, "a state-space model (Mamba)"),
    ({"architectures": ["RwkvForCausalLM"], "model_type": "rwkv"}, "a recurrent model (RWKV)"),
    ({"architectures": ["JambaForCausalLM"], "model_type": "jamba"},
     "a hybrid of attention and state-space (Mamba) layers (Jamba)"),
    ({"architectures": ["ModernBertForMaskedLM"], "model_type": "modernbert"}, "an encoder-only model (ModernBERT)"),
    ({"architectures": ["T5EncoderModel"], "model_type": "t5"}, "an encoder-only model (T5 encoder)"),
    ({"architectures": ["T5ForConditionalGeneration"], "model_type": "t5"}, "an encoder-decoder model (T5)"),
])
def test_architectures_we_cannot_train_are_named_for_what_they_are(tmp_path, config, said):
    folder = write_model(tmp_path / "model", {"hidden_size": 64, "num_hidden_layers": 2, **config})
    with pytest.raises(ModelError) as refused:
        inspect_model(folder)
    assert said in str(refused.value) and "LoRA Studio trains causal decoder language models" in str(refused.value)


@pytest.mark.parametrize(
    ("quant", "label"),
    [
        (
            {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"},
            "bitsandbytes 4bit nf4",
        ),
        ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "bitsandbytes 8bit"),
        ({"quant_method": "gptq", "bits": 4}, "gptq 4bit"),
        ({"quant_method": "fp8"}, "fp8"),
    ],
)
def test_quantization_label_and_count_from_config(tmp_path, quant, label):
    # the stored tensors of a quantized checkpoint are packed, so the count comes from the config
    tensors = {"packed": np.zeros((10, 4), dtype=np.uint8)}
    info = inspect_model(
        write_model(tmp_path / "q", tiny_llama_config(quantization_config=quant), tensors)
    )
    assert info.quantization == label
    assert info.num_parameters == estimate_num_parameters(tiny_llama_config())
    assert info.dtype == "float16"  # no float tensors stored: the config's dtype


def test_chat_template_from_tokenizer_config_or_jinja_file(tmp_path):
    folder = write_model(tmp_path / "chat", tiny_llama_config())
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    assert inspect_model(folder).has_chat_template
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 128}))
    assert not inspect_model(folder).has_chat_template
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    assert inspect_model(folder).has_chat_template


def test_model_info_is_hashable_and_serializes_to_json(tmp_path):
    info = inspect_model(write_model(tmp_path / "tiny", tiny_llama_config(), tiny_llama_tensors()))
    data = json.loads(json.dumps(info.to_dict()))
    assert data["path"] == str(tmp_path / "tiny") and data["num_parameters"] == info.num_parameters
    assert data["config"] == info.config
    assert hash(info) == hash(inspect_model(tmp_path / "tiny"))


def test_damaged_safetensors_headers_give_model_errors_only(tmp_path):
    folder = write_model(tmp_path / "tiny", tiny_llama_config(), tiny_llama_tensors())
    file = folder / "model.safetensors"
    data = file.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    rng = np.random.default_rng(0)
    for _ in range(300):  # one damaged header byte: a clean error or a successful read
        damaged = bytearray(data)
        damaged[int(rng.integers(0, header_end))] = int(rng.integers(0, 256))
        file.write_bytes(bytes(damaged))
        try:
            inspect_model(folder)
        except ModelError:
            pass
