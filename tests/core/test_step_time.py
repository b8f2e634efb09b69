"""The step-time predictor against the H200 measurements, and the batch advice built on it."""

from __future__ import annotations

import pytest

from studio.core import batch_advice, launch_plan, step_time, vram
from studio.core.jobs import TrainJob
from studio.core.presets import count_lora_parameters
from studio.core.reference_shapes import MODEL_SHAPES

ONE_B, EIGHT_B = MODEL_SHAPES["llama-3.2-1b"], MODEL_SHAPES["llama-3.1-8b"]
ONE_B_PARAMS, EIGHT_B_PARAMS = 1_235_814_400, 8_030_261_248
H200 = "NVIDIA H200"
H200_BYTES = 143_771_000_000  # what NVML reports for one
ALPACA_ROWS, ALPACA_MEAN = 1000, 122.0  # the public 1,000-row alpaca file, template included

# The app's own runs on one H200 (issue 18, ../shared/GPU_NOTES.md): LoRA r=16 on every linear layer.
CALIBRATION = [  # config, real tokens a step, compiled, 4-bit, measured seconds a step
    pytest.param(ONE_B, 490, False, False, 0.126, id="1b-short-eager"),
    pytest.param(ONE_B, 490, "graphed", False, 0.030, id="1b-short-graphed"),
    pytest.param(EIGHT_B, 490, "graphed", False, 0.087, id="8b-short-graphed"),
    pytest.param(EIGHT_B, 490, "graphed", True, 0.105, id="8b-qlora-short-graphed"),
    pytest.param(ONE_B, 490, True, False, 0.093, id="1b-short-compiled"),
    pytest.param(ONE_B, 8 * 2048, False, False, 0.356, id="1b-8x2048-eager"),
    pytest.param(ONE_B, 8 * 2048, True, False, 0.237, id="1b-8x2048-compiled"),
    pytest.param(EIGHT_B, 4 * 2048, True, False, 0.736, id="8b-4x2048-compiled"),
    pytest.param(EIGHT_B, 490, False, True, 0.50, id="8b-qlora-short-eager"),
    pytest.param(EIGHT_B, 490, True, True, 0.34, id="8b-qlora-short-compiled"),
]


@pytest.mark.parametrize(("config", "tokens", "compiled", "quantized", "measured"), CALIBRATION)
def test_predicted_step_is_within_20_percent_of_the_h200_measurement(config, tokens, compiled, quantized, measured):
    lora = count_lora_parameters(config, ["all-linear"], 16)
    step = step_time.predict_step(config, tokens, H200, compiled=compiled is True, graphed=compiled == "graphed",
                                  quantized=quantized, lora_parameters=lora)
    assert step is not None
    assert step.seconds == pytest.approx(measured, rel=0.20)


def test_short_steps_are_mostly_overhead_and_long_ones_mostly_compute():
    short = step_time.predict_step(ONE_B, 490, H200)
    long = step_time.predict_step(ONE_B, 8 * 2048, H200)
    assert short.busy < 0.15 < 0.9 < long.busy
    compiled = step_time.predict_step(ONE_B, 490, H200, compiled=True)
    assert compiled.overhead_s < short.overhead_s
    checkpointed = step_time.predict_step(ONE_B, 8 * 2048, H200, checkpointed_layers=16)
    assert checkpointed.seconds > long.seconds  # the forward runs again


@pytest.mark.parametrize(("name", "pattern"), [
    ("NVIDIA H200", "H200"), ("NVIDIA GH200 480GB", "GH200"), ("NVIDIA H100 80GB HBM3", "H100"),
    ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA A10G", "A10G"), ("NVIDIA A10", "A10"), ("NVIDIA L40S", "L40S"),
    ("NVIDIA L4", "L4"), ("NVIDIA GeForce RTX 4090", "4090"), ("Tesla T4", "T4"),
    ("141 GB (H200)", "H200"),
    ("24 GB (RTX 3090/4090, A10)", "3090"),  # a label naming several cards: the slowest
])
def test_gpu_names_find_their_rate(name, pattern):
    assert step_time.gpu_rate(name).pattern == pattern


@pytest.mark.parametrize("name", [None, "", "AMD Instinct MI300X", "Intel Arc A770", "NVIDIA GeForce GTX 1080"])
def test_an_unknown_gpu_predicts_nothing(name):
    assert step_time.gpu_rate(name) is None
    assert step_time.predict_step(ONE_B, 490, name) is None


def test_an_unknown_architecture_predicts_nothing():
    assert step_time.predict_step({"model_type": "no-such-model", "hidden_size": 8, "vocab_size": 8}, 490, H200) is None


def test_steps_tokens_and_job_time():
    assert step_time.optimizer_steps(900, 4, 1, 1.0) == 225
    assert step_time.optimizer_steps(900, 32, 1, 1.0) == 29
    assert step_time.optimizer_steps(900, 4, 4, 2.0) == 114  # 225 batches in updates of 4: 57 an epoch (the last holds 1)
    assert step_time.optimizer_steps(900, 4, 1, 1.0, processes=2) == 113
    assert step_time.optimizer_steps(3, 8, 1, 1.0) == 1
    assert step_time.mean_row_tokens([100, 300, 1000], 512) == pytest.approx((100 + 300 + 512) / 3)
    assert step_time.mean_row_tokens([], 512) == 0.0
    assert step_time.tokens_per_step(122.0, 4) == 488.0
    assert step_time.job_seconds(225, 0.126) == pytest.approx(28.35)
    assert step_time.job_seconds(10, 0.1, compile_s=96) == pytest.approx(97.0)


# -- the advice ----------------------------------------------------------------------------------


def short_rows_job(**training) -> TrainJob:
    job = TrainJob()
    job.lora.target_modules = ["all-linear"]
    for name, value in training.items():
        setattr(job.training, name, value)
    return job


def advise(job: TrainJob, config=ONE_B, gpu=H200, capacity=H200_BYTES, rows=ALPACA_ROWS, mean=ALPACA_MEAN,
           params=ONE_B_PARAMS):
    return batch_advice.advise(job, config, gpu_name=gpu, capacity_bytes=capacity, rows=rows, mean_tokens=mean,
                               num_parameters=params)


def fits(job: TrainJob, batch: int, budget: int, config=ONE_B, params=ONE_B_PARAMS) -> bool:
    job.training.batch_size = batch
    return launch_plan.per_gpu_estimate(job, config, params, None)[0].total <= budget


@pytest.mark.parametrize(("gpu", "capacity"), [(H200, H200_BYTES), ("NVIDIA H100 80GB HBM3", 80 * vram.GIB)])
def test_the_default_short_row_job_on_a_big_card_is_offered_a_larger_batch(gpu, capacity):
    advice = advise(short_rows_job(), gpu=gpu, capacity=capacity, rows=10 * ALPACA_ROWS)
    assert advice is not None
    assert advice.batch_size > 4 and advice.current_batch == 4
    assert advice.steps_after < advice.steps_before == 2250
    assert 0 < advice.seconds_after < advice.seconds_before
    assert advice.busy < batch_advice.IDLE_BUSY
    assert advice.edits == {"training.batch_size": advice.batch_size}
    assert fits(short_rows_job(), advice.batch_size, int(vram.AUTO_BUDGET_SHARE * capacity))


def test_the_h200_sentence_reads_plainly():
    # Batch 16, not 32: its steps are still CUDA graphs; batch 32's would not be (core.step_time).
    advice = advise(short_rows_job())
    assert advice.batch_size == 16
    text = advice.sentence()
    assert text.startswith("The GPU will be mostly idle")
    assert "~490 tokens a step" in text
    assert "Batch 16 (same 1 epoch: 57 steps instead of 225)" in text
    assert f"~{advice.seconds_after:.0f} s instead of ~{advice.seconds_before:.0f} s" in text
    assert "try 2e-4 x sqrt(4) ≈ 4e-4" in text
    assert "Idle GPU: batch 16" in advice.short()


def test_a_card_kept_busy_by_graphed_steps_gets_no_advice():
    """An A100 computes a graphed 1B short step about as long as it takes: nothing idle to fill;
    without graphs the launches leave it idle again."""
    a100 = "NVIDIA A100-SXM4-80GB"
    assert advise(short_rows_job(), gpu=a100, capacity=80 * vram.GIB, rows=10 * ALPACA_ROWS) is None
    assert advise(short_rows_job(cuda_graphs="off"), gpu=a100, capacity=80 * vram.GIB) is not None


def test_the_job_itself_is_never_changed():
    job = short_rows_job()
    before = repr(job)
    assert advise(job) is not None
    assert repr(job) == before


def test_no_advice_on_the_cpu_or_without_a_known_gpu():
    assert advise(short_rows_job(device="cpu")) is None
    assert advise(short_rows_job(), gpu=None) is None
    assert advise(short_rows_job(), gpu="AMD Instinct MI300X") is None
    assert advise(short_rows_job(), capacity=None) is None


def test_no_advice_when_the_batch_already_fills_the_gpu():
    full = short_rows_job(batch_size=8, max_length=2048)
    assert advise(full, mean=2048.0) is None


def test_no_advice_for_jobs_it_cannot_predict_or_would_change_in_kind():
    assert advise(short_rows_job(max_steps=500)) is None  # a larger batch would be more epochs, not faster ones
    several = short_rows_job()
    several.distributed.gpus = [0, 1]
    assert advise(several) is None
    assert advise(short_rows_job(), rows=0) is None


def test_the_advice_never_goes_above_what_the_memory_estimate_fits():
    job = short_rows_job()
    # A card on which batch 16 fits and 32 does not (with CUDA graphs off, 32 would be best): the advice stops at 16.
    job.training.cuda_graphs = "off"
    budget_16 = launch_plan.per_gpu_estimate(short_rows_job(batch_size=16), ONE_B, ONE_B_PARAMS, None)[0].total
    capacity = int(budget_16 / vram.AUTO_BUDGET_SHARE) + 1
    assert not fits(short_rows_job(), 32, int(vram.AUTO_BUDGET_SHARE * capacity))
    assert advise(job).batch_size == 32
    advice = advise(job, capacity=capacity)
    assert advice is not None and advice.batch_size == 16
    # A memory limit the user set is the budget.
    limited = short_rows_job(memory_limit_gib=budget_16 / vram.GIB - 0.5, cuda_graphs="off")
    advice = advise(limited)
    assert advice is not None and advice.batch_size == 8
    for gib in (12, 16, 24, 40, 80, 141):
        advice = advise(short_rows_job(), capacity=gib * vram.GIB)
        if advice is not None:
            assert fits(short_rows_job(), advice.batch_size, int(vram.AUTO_BUDGET_SHARE * gib * vram.GIB))


def test_a_job_that_does_not_fit_gets_no_advice():
    assert advise(short_rows_job(), capacity=4 * vram.GIB) is None


def test_8b_qlora_on_a_24_gb_card_is_left_alone():
    job = short_rows_job()
    job.model.quantization = "4bit"
    for gpu in ("NVIDIA GeForce RTX 4090", "24 GB (RTX 3090/4090, A10)"):
        assert advise(job, config=EIGHT_B, gpu=gpu, capacity=24 * vram.GIB, params=EIGHT_B_PARAMS) is None
        job.training.gradient_checkpointing = True  # fits then, and the card is busy enough
        assert advise(job, config=EIGHT_B, gpu=gpu, capacity=24 * vram.GIB, params=EIGHT_B_PARAMS) is None
        job.training.gradient_checkpointing = False


def test_a_small_saving_is_not_worth_a_tip():
    assert advise(short_rows_job(), rows=60) is None  # 14 steps: a few seconds in all


def test_graphs_expected_as_the_engine_decides():
    """Short steps on an H200 are graphs; a checkpointed layer, graphs off, an unknown or
    fp16-only card, or compiled layers are not; without the data's lengths only ``on`` counts."""
    config = MODEL_SHAPES["llama-3.2-1b"]
    short = 4 * ALPACA_MEAN
    assert step_time.graphs_expected(short_rows_job(), config, H200, short)
    assert not step_time.graphs_expected(short_rows_job(), config, H200, short, checkpointed=4)
    assert not step_time.graphs_expected(short_rows_job(cuda_graphs="off"), config, H200, short)
    assert not step_time.graphs_expected(short_rows_job(compile="on"), config, H200, short)
    assert not step_time.graphs_expected(short_rows_job(), config, "AMD Instinct MI300X", short)
    assert not step_time.graphs_expected(short_rows_job(), config, "Tesla T4", short)
    assert not step_time.graphs_expected(short_rows_job(), config, H200, None)
    assert step_time.graphs_expected(short_rows_job(cuda_graphs="on"), config, H200, None)
    eight_bit = short_rows_job()
    eight_bit.model.quantization = "8bit"  # bitsandbytes' int8 matmul breaks a capture
    assert not step_time.graphs_expected(eight_bit, config, H200, short)


def test_the_estimate_counts_the_graphs_pool_where_steps_will_be_graphs():
    """The batch advice's memory check and the Train page's estimate add the graphs' pool for
    graphed steps (tests/core/test_vram.py checks its size against the H200 runs)."""
    job = short_rows_job()
    config = MODEL_SHAPES["llama-3.2-1b"]
    with_pool = launch_plan.per_gpu_estimate(job, config, None, H200_BYTES, graphs=True)[0]
    without = launch_plan.per_gpu_estimate(job, config, None, H200_BYTES)[0]
    assert with_pool.total > without.total and with_pool.part("graphs").bytes > 0
    assert all(p.key != "graphs" for p in without.parts)


def test_a_card_too_small_for_the_graphs_pool_is_estimated_without_it():
    """On a 16 GB card the 1B default job's graphs' pool would not fit: the engine runs it
    eagerly (engine.fast_path.plan_checkpointing), and the estimate says so instead of
    'does not fit'."""
    job, config = short_rows_job(), MODEL_SHAPES["llama-3.2-1b"]
    small = 16 * vram.GIB
    estimate = launch_plan.per_gpu_estimate(job, config, None, small, graphs=True)[0]
    assert all(p.key != "graphs" for p in estimate.parts) and estimate.total <= vram.budget_bytes(job, small)
    assert launch_plan.per_gpu_estimate(job, config, None, H200_BYTES, graphs=True)[0].part("graphs").bytes > 0
