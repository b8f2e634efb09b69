"""The per-family layer model against what was counted and measured (issue 26).

docs/vram_family_layers.jsonl: what one decoder layer of each family keeps per token, counted on the
CPU with saved-tensor hooks (scripts/vram_family_layers.py). docs/vram_family_measurements.jsonl:
whole training peaks on an H100 through the app's path (scripts/measure_vram.py --shape <family>).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from studio.core import vram, vram_families
from studio.core.jobs import LoraSettings
from studio.core.presets import linear_shapes, resolve_target_modules
from studio.core.reference_shapes import FAMILY_SHAPES, method_measured_job, shape_config

DOCS = Path(__file__).resolve().parents[2] / "docs"
COUNTS = [json.loads(line) for line in (DOCS / "vram_family_layers.jsonl").read_text().splitlines()]
PEAKS = [json.loads(line) for line in (DOCS / "vram_family_measurements.jsonl").read_text().splitlines()]


def test_every_family_was_counted():
    assert {row["shape"] for row in COUNTS} == set(FAMILY_SHAPES)


@pytest.mark.parametrize("row", COUNTS, ids=lambda row: row["shape"])
def test_layer_model_matches_the_count(row):
    config = shape_config(row["shape"])
    shapes = linear_shapes(config)
    modules = resolve_target_modules(config, ["auto"])
    tokens = row["tokens"]

    def kept(n: int) -> int:
        return n * vram_families.layer_bytes(config, shapes, modules, 0.05, LoraSettings(r=16), seq_len=n, cuda=False)

    modelled = (kept(2 * tokens) - kept(tokens)) / tokens
    counted = row["counted"]["layer_per_token"]
    assert abs(modelled - counted) / counted < 0.04, (modelled, counted)
    assert vram_families.head_bytes_per_entry(config) == pytest.approx(row["counted"]["head_per_entry"], abs=0.01)


def _measured_job(row):
    return method_measured_job(row["method"], row["quant"], row["batch"], row["seq"], row["ckpt"], row["r"])


@pytest.mark.parametrize("row", PEAKS, ids=lambda row: f"{row['shape']}-b{row['batch']}x{row['seq']}")
def test_estimate_is_never_far_below_a_measured_peak(row):
    config = dict(shape_config(row["shape"]), attn_implementation=row["attn_implementation"])
    estimate = vram.estimate(_measured_job(row), config, num_parameters=row["num_parameters"]).total / vram.GIB
    error = (estimate - row["measured_gib"]) / row["measured_gib"]
    assert -0.03 <= error <= 0.06, f"estimate {estimate:.2f} GiB vs measured {row['measured_gib']} ({error:+.1%})"


def test_family_terms_that_the_llama_model_missed():
    qwen3, gemma2 = shape_config("qwen3-0.6b"), shape_config("gemma-2-2b")
    # Qwen3-0.6B's queries are twice its hidden size, and its q/k norms keep fp32 inputs
    assert vram_families.widths(qwen3, linear_shapes(qwen3)).query == 2 * qwen3["hidden_size"]
    # Gemma 2 soft-caps its logits: the loss keeps their tanh too
    assert vram_families.head_bytes_per_entry(gemma2) == 6
    # and since transformers 5.21 it trains with eager attention, whose scores grow with the row
    assert vram_families.eager_attention(gemma2, "5.21.0") and not vram_families.eager_attention(gemma2, "5.17.0")
    shapes = linear_shapes(gemma2)
    short, long = (vram_families.base_layer_bytes(gemma2, shapes, n, eager=True) for n in (1024, 2048))
    assert long - short == gemma2["num_attention_heads"] * 1024 * 8


def test_mixture_experts_stay_unquantized_under_qlora():
    config = shape_config("mixtral-8x7b-4l")
    experts = vram_families.expert_parameters(config)
    assert experts == 4 * 8 * (3 * 4096 * 14336 + 4096)
    job = _measured_job({"shape": "mixtral", "quant": "4bit", "r": 16, "batch": 1, "seq": 512, "ckpt": True,
                         "fast_path": False, "method": "qlora"})
    found = vram.estimate(job, config)
    assert found.part("weights").bytes > 2 * experts  # bf16 experts beside the 4-bit attention
    assert any("expert parameters stay in 16-bit" in note for note in found.notes)


def test_advice_says_the_experts_stay_16_bit():
    from studio.core import vram_advice

    config = dict(shape_config("mixtral-8x7b-4l"), num_hidden_layers=32)
    job = _measured_job({"shape": "mixtral", "quant": "4bit", "r": 16, "batch": 1, "seq": 512, "ckpt": True,
                         "fast_path": False, "method": "qlora"})
    text = " ".join(vram_advice.advise(job, config, 80 * vram.GIB).lines("one 80 GiB card", cli=True))
    assert "base weights alone are" in text and "experts stay 16-bit" in text and "4-bit base weights" not in text


def test_gpu_plan_fits_the_card_and_covers_every_family():
    import importlib.util

    spec = importlib.util.spec_from_file_location("vram_family_plan", DOCS.parent / "scripts" / "vram_family_plan.py")
    plan = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = plan  # its dataclass looks itself up there
    spec.loader.exec_module(plan)
    budget = 0.85 * 79.2
    calls = plan.calls(plan.configurations(), budget, per_lane=4, most_lanes=4)
    per_family: dict[str, int] = {}
    for call in calls:
        assert sum(max(item.gib for item in lane) for lane in call) <= budget
        assert len({lane[0].shape for lane in call}) == len(call)  # two lanes never write one model folder
        for item in (item for lane in call for item in lane):
            family = FAMILY_SHAPES[item.shape]["model_type"]
            per_family[family] = per_family.get(family, 0) + 1
    for row in PEAKS:
        family = FAMILY_SHAPES[row["shape"]]["model_type"]
        per_family[family] = per_family.get(family, 0) + 1
    assert set(per_family) == {config["model_type"] for config in FAMILY_SHAPES.values()}
    assert min(per_family.values()) >= 3
