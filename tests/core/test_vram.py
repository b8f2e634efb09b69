"""The VRAM estimator against real H100 measurements, the seeds' table, and its suggestions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core import vram
from studio.core.job_schema import job_from_dict, to_dict
from studio.core.jobs import TrainJob
from studio.core.methods import METHODS, apply_method, tuner_names
from studio.core.presets import count_adapter_parameters
from studio.core.reference_shapes import MODEL_SHAPES, measured_job

MEASUREMENTS = Path(__file__).resolve().parents[2] / "docs" / "vram_measurements.jsonl"
ROWS = [json.loads(line) for line in MEASUREMENTS.read_text().splitlines() if line.strip()]
GIB = 2**30


def job(model_quant: str = "none", **training) -> TrainJob:
    result = TrainJob()
    result.model.quantization = model_quant
    result.training.precision = "bf16"
    for name, value in training.items():
        setattr(result.training, name, value)
    return result


def test_the_measurements_span_what_the_issue_asks():
    assert len(ROWS) >= 12 and all("H100" in r["gpu"] or "H200" in r["gpu"] for r in ROWS)
    assert {"smollm2-135m", "llama-3.1-8b"} <= {r["model"] for r in ROWS}
    assert min(r["r"] for r in ROWS) == 8 and max(r["r"] for r in ROWS) == 64
    assert min(r["batch"] for r in ROWS) == 1 and max(r["batch"] for r in ROWS) == 16
    assert min(r["seq"] for r in ROWS) == 512 and max(r["seq"] for r in ROWS) == 4096
    assert {r["ckpt"] for r in ROWS} == {True, False}
    assert {r.get("quant", "none") for r in ROWS} == {"none", "4bit"}


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_estimate_is_within_ten_percent_of_the_measured_peak(row):
    estimate = vram.estimate(measured_job(row), MODEL_SHAPES[row["model"]], fused_loss=bool(row.get("liger")))
    measured = row["measured_peak_bytes"]
    assert abs(estimate.total - measured) / measured < 0.10, (estimate.total / GIB, measured / GIB)
    # The parts that are counted, not fitted, are exact.
    assert abs(estimate.part("weights").bytes - row["weights_allocated_bytes"]) < 0.01 * row["weights_allocated_bytes"]
    assert estimate.part("adapter").bytes == 4 * row["trainable_parameters"]


def test_breakdown_adds_up_and_names_every_part():
    estimate = vram.estimate(job(batch_size=4, max_length=1024), MODEL_SHAPES["llama-3.2-1b"])
    assert [p.key for p in estimate.parts] == ["weights", "adapter", "gradients", "optimizer", "activations",
                                               "logits", "allocator", "context"]
    assert estimate.total == sum(p.bytes for p in estimate.parts)
    assert all(p.bytes > 0 and p.label and p.note for p in estimate.parts)
    assert estimate.as_dict()["total_bytes"] == estimate.total


def test_each_knob_moves_the_estimate_the_right_way():
    shape = MODEL_SHAPES["llama-3.1-8b"]
    base = vram.estimate(job(batch_size=4, max_length=2048), shape).total
    assert vram.estimate(job(batch_size=4, max_length=2048, gradient_checkpointing=True), shape).total < base
    assert vram.estimate(job("4bit", batch_size=4, max_length=2048), shape).total < base - 8 * GIB
    assert vram.estimate(job(batch_size=8, max_length=2048), shape).total > base
    assert vram.estimate(job(batch_size=4, max_length=2048, optimizer="adamw_8bit"), shape).total < base
    assert vram.estimate(job(batch_size=4, max_length=2048), shape, fused_loss=True).part("logits").bytes == 0
    dora = job(batch_size=4, max_length=2048)
    dora.lora.use_dora = True
    assert vram.estimate(dora, shape).part("activations").bytes > vram.estimate(
        job(batch_size=4, max_length=2048), shape).part("activations").bytes


def test_several_gpus_ddp_per_gpu_and_fsdp_sharded():
    shape, train = MODEL_SHAPES["llama-3.1-8b"], job(batch_size=2, max_length=2048, gradient_checkpointing=True)
    single = vram.estimate(train, shape)
    ddp = vram.estimate(train, shape, gpus=2, strategy="ddp")
    fsdp = vram.estimate(train, shape, gpus=4, strategy="fsdp")
    assert ddp.strategy == "ddp" and ddp.total > single.total
    assert fsdp.part("weights").bytes < single.part("weights").bytes / 2
    assert fsdp.part("activations").bytes == single.part("activations").bytes
    assert any("FSDP" in note for note in fsdp.notes)


def test_seeds_7b_table_holds_with_gradient_checkpointing():
    """Seeds: 7B, r=16, batch 4 (q/k/v/o, 512 tokens): LoRA ~18-20 GB, QLoRA ~7-9 GB."""
    shape = MODEL_SHAPES["llama-2-7b"]

    def total(quant: str, ckpt: bool) -> float:
        train = job(quant, batch_size=4, max_length=512, gradient_checkpointing=ckpt)
        train.lora.r, train.lora.target_modules = 16, ["q_proj", "k_proj", "v_proj", "o_proj"]
        return vram.estimate(train, shape).total / 1e9

    assert 7 <= total("4bit", True) <= 9
    assert 15 <= total("none", True) <= 20 < total("none", False)  # without checkpointing: ~28 GB


def test_suggestions_fit_and_come_cheapest_first():
    shape, train = MODEL_SHAPES["llama-3.1-8b"], job(batch_size=8, max_length=2048)
    assert vram.suggest(train, shape, 200 * GIB) == []  # it fits: nothing to suggest
    found = vram.suggest(train, shape, 80 * GIB)
    assert found[0].edits == {"training.gradient_checkpointing": True}
    assert all(s.fits and s.estimate.total <= 0.9 * 80 * GIB for s in found)  # within the margin (vram.fits)
    halved = next(s for s in found if "training.batch_size" in s.edits)
    assert halved.edits["training.batch_size"] * halved.edits["training.grad_accum"] == 8  # same effective batch
    stacked = vram.suggest(train, shape, 12 * GIB)
    assert len(stacked) == 1 and stacked[0].fits and stacked[0].edits["model.quantization"] == "4bit"
    # Nothing fits a 2 GiB card: no suggestion, and the lightest stack says how close it comes.
    assert vram.suggest(train, shape, 2 * GIB) == []
    least = vram.lightest(train, shape)
    assert least is not None and not least.fits and least.estimate.total > 2 * GIB
    assert least.edits["model.quantization"] == "4bit" and least.edits["training.batch_size"] == 1


def test_a_suggestion_within_the_margin_is_not_offered_as_fitting():
    """Issue 26: 8-bit AdamW took a 3B job to 23.9 of a 24.0 GiB card and was called "fits"."""
    shape, train = MODEL_SHAPES["llama-3.2-3b"], job(batch_size=4, max_length=2048, gradient_checkpointing=True)
    eight_bit = vram.estimate(vram.edited(train, {"training.optimizer": "adamw_8bit"}), shape).total
    assert 0.9 * 24 * GIB < eight_bit <= 24 * GIB  # on the card, past the margin
    assert not vram.fits(eight_bit, train, 24 * GIB) and vram.fits(eight_bit, train, 27 * GIB)
    found = vram.suggest(train, shape, 24 * GIB)
    assert found and all(vram.fits(s.estimate.total, train, 24 * GIB) for s in found)
    assert not any("training.optimizer" in s.edits for s in found)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(vram.EstimateError, match="someday_net"):
        vram.estimate(job(), {"model_type": "someday_net", "hidden_size": 64, "vocab_size": 100})


# --- partial checkpointing and compiled layers (issue 8) --------------------------------------

H200_RUNS = Path(__file__).resolve().parents[2] / "docs" / "gpu_runs"
H200_ROWS = [json.loads(line) for name in ("bench_h200_first.jsonl", "bench_h200_final.jsonl",
                                           "bench_h200_fourth.jsonl", "bench_h200_offload.jsonl")
             for line in (H200_RUNS / name).read_text().splitlines() if line.strip()]


def _bench_estimate(row):
    import re

    from studio.core.jobs import LoraSettings

    result = TrainJob()
    tr = result.training
    tr.batch_size, tr.max_length, tr.gradient_checkpointing = row["batch"], row["seq"], row["ckpt"]
    tr.precision, tr.memory_limit_gib = "bf16", row.get("memory_limit_gib", 0)
    tr.offload_activations = "offload" in row["mode"]
    result.model.quantization = row.get("quant", "none")
    result.lora = LoraSettings(r=16, alpha=32, dropout=0.05, target_modules=["all-linear"])
    found = re.search(r"checkpointing (\d+) of", row["path"])
    return vram.estimate(result, MODEL_SHAPES[row["shape"]], fused_loss="liger" in row["path"] and "liger off" not in row["path"],
                         checkpointed_layers=int(found.group(1)) if found else None,
                         compiled="torch.compile" in row["path"]).total / GIB


@pytest.mark.parametrize("row", [r for r in H200_ROWS if r["data"] == "fixed"],
                         ids=lambda r: f"{r['config']}-{r['mode']}-{r['path'][-40:]}")
def test_estimate_covers_the_compiled_and_partly_checkpointed_h200_runs(row):
    """bf16 runs within 5% of the measured peak; the 4-bit and offloaded ones err high, never low."""
    estimate, measured = _bench_estimate(row), row["peak_total_gib"]
    if row.get("quant") == "4bit" or "offload" in row["mode"]:
        assert measured <= estimate <= 1.2 * measured
    else:
        assert abs(estimate - measured) <= 0.05 * measured


def test_checkpointing_fewer_layers_costs_memory_step_by_step():
    shape = MODEL_SHAPES["llama-3.1-8b"]
    base = job(gradient_checkpointing=True, batch_size=4, max_length=2048)
    totals = [vram.estimate(base, shape, checkpointed_layers=k).total for k in (0, 8, 16, 24, 32)]
    assert totals == sorted(totals, reverse=True)
    assert vram.estimate(base, shape, checkpointed_layers=32).total == vram.estimate(base, shape).total
    assert vram.estimate(base, shape, checkpointed_layers=99).total == vram.estimate(base, shape).total
    plain = job(gradient_checkpointing=False, batch_size=4, max_length=2048)
    assert vram.estimate(plain, shape).total == vram.estimate(base, shape, checkpointed_layers=0).total
    assert "24 of 32 layers checkpointed" in vram.estimate(base, shape, checkpointed_layers=24).part("activations").note
    compiled = vram.estimate(base, shape, checkpointed_layers=16, compiled=True).total
    assert compiled < vram.estimate(base, shape, checkpointed_layers=16).total


def test_offloaded_checkpoints_keep_no_layer_inputs_on_the_gpu():
    shape = MODEL_SHAPES["llama-3.1-8b"]
    kept = job(gradient_checkpointing=True, batch_size=1, max_length=65536)
    offloaded = job(gradient_checkpointing=True, batch_size=1, max_length=65536, offload_activations=True)
    saved = vram.estimate(kept, shape).total - vram.estimate(offloaded, shape).total
    assert saved == 65536 * 32 * 2 * 4096  # every layer's bf16 input
    assert "inputs on the CPU" in vram.estimate(offloaded, shape).part("activations").note


def test_the_fewest_checkpointed_layers_that_fit_the_budget():
    shape = MODEL_SHAPES["llama-3.1-8b"]
    base = job(gradient_checkpointing=True, batch_size=4, max_length=2048)
    options = {"fused_loss": True, "compiled": True}
    budget = int(34.85 * GIB)  # the plain 8B baseline's peak on the H200
    needed = vram.checkpointed_layers_needed(base, shape, budget, **options)
    assert 0 < needed < 32
    assert vram.estimate(base, shape, checkpointed_layers=needed, **options).total <= budget
    assert vram.estimate(base, shape, checkpointed_layers=needed - 1, **options).total > budget
    assert vram.checkpointed_layers_needed(base, shape, 200 * GIB, **options) == 0
    assert vram.checkpointed_layers_needed(base, shape, 1 * GIB, **options) == 32  # nothing fits: all of them
    assert vram.checkpointed_layers_needed(base, shape, int(40 * GIB), **options) < needed


# --- CUDA graphs' pool (issue 18) --------------------------------------------------------------

GRAPHED_JOBS = [json.loads(line) for name in ("graphs/job_bench_h200_graphs.jsonl", "session5/jobs.jsonl")
                for line in (H200_RUNS / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("row", [r for r in GRAPHED_JOBS if r.get("graphed_steps")],
                         ids=lambda r: f"{r['config']}-{r['mode']}-{r['peak_gib']}")
def test_estimate_with_graphs_covers_the_graphed_h200_jobs(row):
    """The default jobs whose steps were CUDA graphs peaked above the estimate without the
    graphs' pool (1B alpaca: 15.9 against 11.0 GiB, chat 20.7); with it every one is covered,
    and short rows' jobs (whose steps are shorter than the longest the estimate assumes) at
    most 50% high."""
    result = TrainJob()  # the job bench's jobs run at the defaults
    result.model.quantization = row.get("quant", "none")
    shape = MODEL_SHAPES[row["shape"]]
    without = vram.estimate(result, shape).total / GIB
    with_graphs = vram.estimate(result, shape, graphs=True)
    assert without < row["peak_gib"] <= with_graphs.total / GIB <= 1.5 * row["peak_gib"]
    pool = with_graphs.part("graphs")
    assert pool.bytes == pytest.approx(vram.GRAPH_POOL_SHARE * (with_graphs.part("activations").bytes
                                                                + with_graphs.part("logits").bytes), abs=2)
    assert "captured steps" in pool.note


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gets_an_estimate_with_its_own_trainable_parameters(method):
    shape = MODEL_SHAPES["llama-3.1-8b"]
    data = apply_method(to_dict(job(batch_size=4, max_length=2048)), method)
    chosen = job_from_dict(data)
    estimate = vram.estimate(chosen, shape)
    adapter = estimate.part("adapter").bytes
    assert estimate.total > adapter > 0
    assert adapter == 4 * count_adapter_parameters(shape, chosen.lora)  # fp32 adapter weights
    plain = vram.estimate(job(batch_size=4, max_length=2048), shape).part("adapter").bytes
    assert (adapter != plain) == (method in ("dora", *tuner_names()[1:]))  # each tuner counts its own
