"""core.vram_advice: when no change fits one card, say so once, with the card and GPU count that would."""

from __future__ import annotations

from studio.core import vram, vram_advice
from studio.core.jobs import TrainJob
from studio.core.reference_shapes import MODEL_SHAPES

GIB = vram.GIB


def qlora_70b() -> TrainJob:
    job = TrainJob()
    job.model.quantization = "4bit"
    return job


def test_70b_qlora_on_a_24_gib_card_names_the_smallest_card_and_why_more_cards_do_not_help():
    advice = vram_advice.advise(qlora_70b(), MODEL_SHAPES["llama-3.1-70b"], 24 * GIB)
    assert advice.nothing_fits and not advice.suggestions
    assert advice.least is not None and 40 * GIB < advice.least.estimate.total < 41 * GIB
    # 40.4 GiB fits 90% of a 48 GiB card, not a 40 GiB one; unchanged (122.8 GiB) only an H200.
    assert advice.larger is not None and advice.larger.gib == 48 and advice.as_is.gib == 141
    assert advice.gpus == 0 and "loads the whole model (36.8 GiB)" in advice.no_fsdp
    said = advice.lines("one 24 GiB card", cli=True)
    assert said[0].startswith("No setting fits one 24 GiB card: the 4-bit base weights alone are 36.8 GiB")
    assert said[1] == ("It would fit a 48 GiB card (RTX 6000 Ada, A6000, L40S) with those changes, or a 141 GiB "
                       "card (H200) as it is.")
    assert sum("No setting fits" in line for line in said) == 1 and len(set(said)) == len(said)
    assert not any("still too large" in line for line in said)


def test_fsdp_is_offered_with_the_fewest_gpus_that_hold_the_job():
    """A rank-1024 adapter's fp32 states (not the weights) overflow a 24 GiB card: FSDP shards them."""
    job = TrainJob()
    job.lora.r = 1024
    config = MODEL_SHAPES["llama-3.1-8b"]
    advice = vram_advice.advise(job, config, 24 * GIB)
    assert advice.nothing_fits and advice.gpus >= 2
    least = vram.edited(job, advice.least.edits)
    fits = [vram.fits(vram.estimate(least, config, gpus=n, strategy="fsdp").total, job, 24 * GIB)
            for n in range(2, advice.gpus + 1)]
    assert fits[-1] and not any(fits[:-1])  # the smallest count
    assert any(f"Or {advice.gpus} of these cards with FSDP (--gpus 0,1" in line
               for line in advice.lines("one 24 GiB card", cli=True))


def test_a_method_fsdp_cannot_shard_says_so():
    job = qlora_70b()
    job.lora.init = "pissa"
    job.model.quantization = "none"
    advice = vram_advice.advise(job, MODEL_SHAPES["llama-3.1-70b"], 24 * GIB)
    assert advice.gpus == 0 and advice.no_fsdp.startswith("FSDP can't train PiSSA")


def test_the_card_list_says_gib_and_an_where_spoken_so():
    assert [c.gib for c in vram_advice.CARDS] == sorted(c.gib for c in vram_advice.CARDS)
    assert {8, 12, 16, 24, 40, 48, 80, 94, 141} <= {c.gib for c in vram_advice.CARDS}
    eighty = next(c for c in vram_advice.CARDS if c.gib == 80)
    assert eighty.phrase().startswith("an 80 GiB card") and eighty.label.startswith("80 GiB (")
