"""Nonsense numbers no longer pass (issue 22, finding 12).

``-r 100000``, ``--epochs 1e9``, ``--seed -1`` and ``loraplus_lr_ratio = 1e9`` all used to be
accepted. The seed and the LoRA+ ratio can never be right outside their ranges: job_schema
refuses them. A rank above the adapted layers' width and a million optimizer steps may be a
rare real need: core.magnitudes names them with the reason, for the Train page and the CLI to
hold back until overridden (tests/cli/test_cli_magnitudes.py, tests/gui/test_train_page_magnitudes.py).
"""

from __future__ import annotations

import pytest

from studio.core import magnitudes
from studio.core.job_schema import MAX_SEED, JobError, job_from_dict, validate
from studio.core.jobs import TrainJob

# tests/tiny_model.py's Llama: hidden 64, 4 heads and 2 of them for keys and values (k_proj and
# v_proj are 64 in, 32 out), an MLP of 128.
TINY = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 600}


def refused(data: dict) -> list[str]:
    with pytest.raises(JobError) as caught:
        job_from_dict(data)
    return [str(issue) for issue in caught.value.issues]


def job(**fields) -> TrainJob:
    built = TrainJob()
    for dotted, value in fields.items():
        section, name = dotted.split("__")
        setattr(getattr(built, section), name, value)
    return built


# -- hard limits: job_schema ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 2**63])
def test_a_seed_numpy_cannot_take_is_refused_with_its_range(seed):
    (said,) = refused({"training": {"seed": seed}})
    assert said.startswith("training.seed must be in [0, 4294967295]") and "42 is typical" in said


@pytest.mark.parametrize("seed", [0, 42, MAX_SEED])
def test_every_seed_numpy_takes_is_accepted(seed):
    assert job_from_dict({"training": {"seed": seed}}).training.seed == seed


@pytest.mark.parametrize("ratio, words", [
    (1e9, "must be at most 1000, got 1e+09"),
    (1001, "must be at most 1000"),
    (-1, "must be >= 0 (0 = off)"),
])
def test_a_loraplus_ratio_out_of_range_is_refused(ratio, words):
    (said,) = refused({"lora": {"loraplus_lr_ratio": ratio}})
    assert said.startswith("lora.loraplus_lr_ratio") and words in said and "16 is the LoRA+ paper's" in said


def test_b_learning_rate_of_1_or_more_is_refused_like_the_learning_rate():
    (said,) = refused({"lora": {"loraplus_lr_ratio": 500}, "training": {"learning_rate": 5e-3}})
    assert "x training.learning_rate is 2.5, B's learning rate: it must be below 1" in said
    assert not validate(job(lora__loraplus_lr_ratio=500.0, training__learning_rate=1e-3))


@pytest.mark.parametrize("ratio", [0.0, 0.5, 16.0, 1000.0])
def test_usual_loraplus_ratios_are_accepted(ratio):
    assert job_from_dict({"lora": {"loraplus_lr_ratio": ratio}}).lora.loraplus_lr_ratio == ratio


# -- rank against the layers' width ---------------------------------------------------------------


def test_a_rank_above_the_narrowest_adapted_layer_is_named_with_its_reason():
    assert magnitudes.magnitude_issues(job(lora__r=32), TINY) == []  # k_proj's full rank: allowed
    (issue,) = magnitudes.magnitude_issues(job(lora__r=100_000), TINY)
    assert issue.field == "lora.r"
    assert issue.message.startswith("is 100,000, above the width of k_proj (64 in, 32 out), the narrowest layer")
    assert "can't have a rank above 32" in issue.message and "8 or 16 is typical, 32 at most" in issue.message
    assert magnitudes.magnitude_issues(job(lora__r=33), TINY)[0].field == "lora.r"


def test_the_width_is_that_of_the_layers_the_job_adapts():
    assert magnitudes.magnitude_issues(job(lora__r=64, lora__target_modules=["q_proj", "o_proj"]), TINY) == []
    (issue,) = magnitudes.magnitude_issues(job(lora__r=65, lora__target_modules=["q_proj", "o_proj"]), TINY)
    assert "(64 in, 64 out)" in issue.message
    (issue,) = magnitudes.magnitude_issues(job(lora__r=100, lora__target_modules=["all-linear"]), TINY)
    assert "k_proj" in issue.message


@pytest.mark.parametrize("tuner, flagged", [("lora", True), ("loha", True), ("vera", True), ("adalora", True),
                                            ("oft", False), ("lokr", False)])
def test_only_methods_whose_size_keeps_growing_with_r_are_flagged(tuner, flagged):
    """peft caps OFT's block and LoKr's factor at the layer's size: a large r costs them nothing."""
    assert bool(magnitudes.magnitude_issues(job(lora__r=100_000, lora__tuner=tuner), TINY)) is flagged


def test_no_verdict_on_the_rank_without_shapes_or_for_a_continued_adapter():
    assert magnitudes.magnitude_issues(job(lora__r=100_000)) == []  # no model selected
    assert magnitudes.magnitude_issues(job(lora__r=100_000), {"model_type": "mystery"}) == []
    assert magnitudes.magnitude_issues(job(lora__r=100_000, lora__continue_from="pirate/v1"), TINY) == []


# -- optimizer steps ------------------------------------------------------------------------------


def test_a_billion_epochs_is_flagged_even_before_the_rows_are_known():
    (issue,) = magnitudes.magnitude_issues(job(training__epochs=1e9))
    assert issue.field == "training.epochs"
    assert issue.message.startswith("is 1e+09: at least 1,000,000,000 optimizer steps (one an epoch")
    assert "over 1,000,000" in issue.message and "1 to 3 epochs is typical" in issue.message
    assert magnitudes.magnitude_issues(job(training__epochs=1e308)) != []  # no overflow


def test_epochs_times_rows_over_the_effective_batch_is_counted_as_the_engine_does():
    # 20,000 rows, a tenth held out: 18,000 at 4 x 2 rows a step is 2,250 steps an epoch.
    many = job(training__epochs=500.0, training__grad_accum=2)
    assert magnitudes.optimizer_steps(many, 20_000) == 2_250 * 500
    (issue,) = magnitudes.magnitude_issues(many, rows=20_000)
    assert "1,125,000 optimizer steps over 18,000 training rows at 8 rows a step" in issue.message
    assert magnitudes.magnitude_issues(job(training__epochs=3.0), rows=20_000) == []
    two_gpus = job(training__epochs=500.0, training__grad_accum=2)
    two_gpus.distributed.gpus = [0, 1]  # each step takes a batch on every process
    assert magnitudes.optimizer_steps(two_gpus, 20_000) == 1_125 * 500
    assert magnitudes.magnitude_issues(two_gpus, rows=20_000) == []
    capped = job(training__epochs=500.0, training__grad_accum=2, dataset__max_rows=2_000)
    assert magnitudes.magnitude_issues(capped, rows=20_000) == []


def test_packed_rows_count_as_one_step_an_epoch():
    """Packing makes fewer sequences than rows: the row count would overstate the steps."""
    packed = job(training__epochs=500.0, training__packing=True)
    assert magnitudes.optimizer_steps(packed, 20_000) == 500
    assert magnitudes.magnitude_issues(packed, rows=20_000) == []


def test_max_steps_over_the_cap_is_flagged_on_its_own_field():
    assert magnitudes.magnitude_issues(job(training__max_steps=magnitudes.MAX_STEPS)) == []
    (issue,) = magnitudes.magnitude_issues(job(training__max_steps=2_000_000, training__epochs=1e9), rows=10)
    assert issue.field == "training.max_steps" and "is 2,000,000 optimizer steps" in issue.message


def test_the_default_job_has_nothing_unusual():
    assert magnitudes.magnitude_issues(TrainJob(), TINY, rows=1_000) == []
