"""The compile choice's record and the compile caches' place in the home."""

from __future__ import annotations

from studio.core import compile_choice, paths


def test_the_compile_cache_environment_creates_nothing(monkeypatch, tmp_path):
    """Workers set it before anything else: a home whose cache/ can't be a folder must not
    stop them (inductor and Triton make their folders when they compile)."""
    monkeypatch.setenv("LORA_STUDIO_HOME", str(tmp_path))
    (tmp_path / "cache").write_text("not a folder", encoding="utf-8")
    env = paths.compile_cache_environment()
    assert env == {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache" / "inductor"),
                   "TRITON_CACHE_DIR": str(tmp_path / "cache" / "triton")}
    assert (tmp_path / "cache").is_file()
    assert not compile_choice.was_compiled("anything")  # and the record reads as "cold"


def test_short_jobs_stay_eager_long_ones_compile():
    small = compile_choice.choose(225, layers=16, layer_parameters=61_000_000, tokens_per_step=490, warm=False)
    assert not small.compile and "225 steps" in small.reason and small.cost_s == compile_choice.COMPILE_SECONDS["cold"]
    assert compile_choice.choose(2250, 16, 61_000_000, 490, warm=False).compile
    assert compile_choice.choose(900, 16, 61_000_000, 490, warm=True).compile
    # 4-bit layers save more a step (dequantisation fused): the same steps pay back sooner.
    assert (compile_choice.predicted_saving_s(100, 32, 200_000_000, 490, quantized=True)
            > compile_choice.predicted_saving_s(100, 32, 200_000_000, 490))


def test_layer_parameters_from_the_config():
    config = {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
              "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256}
    # q, o: 2048 x 2048; k, v: 2048 x 512; gate, up, down: 2048 x 8192
    assert compile_choice.layer_parameters(config) == 2 * 2048 * 2048 + 2 * 2048 * 512 + 3 * 2048 * 8192
