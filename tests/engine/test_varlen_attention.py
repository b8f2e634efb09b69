"""Packed rows attended by their sequence boundaries compute what SDPA with the per-example
mask computes: the same loss and LoRA gradients, on a grouped-query tiny Llama.

On the CPU the flash kernel does not run; ``reference_kernel`` (one SDPA call per
sequence) stands in for it, so these tests check everything around the kernel: the
collator's boundaries, the layouts, grouped-query heads, the scale, the fallbacks.
scripts/check_varlen_attention.py compares the flash kernel itself on the GPU machine."""

from __future__ import annotations

import pytest
import torch
import transformers

from studio.core.jobs import LoraSettings
from studio.engine import adapter_setup, data_prep, varlen_attention

VOCAB = 256


@pytest.fixture(autouse=True)
def restore_kernel():
    yield
    varlen_attention._KERNEL, varlen_attention._OPTIONS = None, {}


def lora_model():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    model = adapter_setup.apply_adapter(model, LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["all-linear"]),
                                        gradient_checkpointing=False, quantized=False)
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # not the zeros LoRA starts from: the adapter must change the gradients' path
            torch.nn.init.normal_(param, std=0.02)
    model.train()
    return model


def features(lengths=(5, 17, 9, 30)):
    generator = torch.Generator().manual_seed(3)
    rows = []
    for n in lengths:
        ids = torch.randint(10, VOCAB, (n,), generator=generator).tolist()
        rows.append({"input_ids": ids, "labels": ids})
    return rows


def loss_and_gradients(model, batch):
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_boundaries_mark_every_packed_sequence_and_the_filler():
    batch = data_prep.PackedCollator(0, boundaries=True)(features())
    # 5 + 17 + 9 + 30 = 61 tokens, rounded to 64: a filler sequence of 3
    assert batch["cu_seq_lens_q"].tolist() == [0, 5, 22, 31, 61, 64]
    assert batch["cu_seq_lens_q"].dtype == torch.int32
    assert batch["max_length_q"] == batch["max_length_k"] == 30
    assert batch["input_ids"].shape == (1, 64)
    assert "cu_seq_lens_q" not in data_prep.PackedCollator(0)(features())


def test_packed_rows_match_sdpa_with_the_per_example_mask():
    collate = data_prep.PackedCollator(0, boundaries=True)
    batch = collate(features())
    sdpa_model = lora_model()
    want_loss, want = loss_and_gradients(sdpa_model, batch)
    model = lora_model()
    varlen_attention.use(model, kernel=varlen_attention.reference_kernel)
    assert model.config._attn_implementation == varlen_attention.NAME
    calls = []
    kernel = varlen_attention.reference_kernel
    varlen_attention._KERNEL = lambda *args: calls.append(args[3].tolist()) or kernel(*args)
    got_loss, got = loss_and_gradients(model, batch)
    assert calls and calls[0] == [0, 5, 22, 31, 61, 64]  # the boundaries path ran, once a layer
    assert len(calls) == 2
    torch.testing.assert_close(got_loss, want_loss)
    for name in want:
        torch.testing.assert_close(got[name], want[name], msg=name)


@pytest.mark.parametrize("attention", ["sdpa", "boundaries"])
def test_attention_never_crosses_examples(attention):
    """Changing one packed example leaves the others' logits alone, through SDPA's mask
    (training keeps no KV cache, which would drop that mask) and through the boundaries."""
    model = lora_model()
    if attention == "boundaries":
        varlen_attention.use(model, kernel=varlen_attention.reference_kernel)
    collate = data_prep.PackedCollator(0, boundaries=True)
    rows = features()
    other = [dict(r) for r in rows]
    other[1] = {"input_ids": [11] * 17, "labels": [11] * 17}
    with torch.no_grad():
        a = model(**collate(rows)).logits[0]
        b = model(**collate(other)).logits[0]
    keep = list(range(0, 5)) + list(range(22, 61))
    torch.testing.assert_close(a[keep], b[keep])
    assert not torch.allclose(a[5:22], b[5:22])


def test_padded_batches_go_through_sdpa_with_its_mask():
    sdpa_model = lora_model()
    model = lora_model()
    varlen_attention.use(model, kernel=lambda *args: pytest.fail("the boundaries kernel ran on a padded batch"))
    ids = torch.randint(10, VOCAB, (2, 12), generator=torch.Generator().manual_seed(5))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # left padding
    with torch.no_grad():
        want = sdpa_model(input_ids=ids, attention_mask=mask).logits
        got = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got[mask.bool()], want[mask.bool()])


def test_rows_without_boundaries_find_their_sequences_in_the_position_ids():
    """No T x T mask is built for whole rows, so rows from any other collator (packed by
    position ids, or plain unpadded batches) must still keep their sequences apart."""
    sdpa_model, model = lora_model(), lora_model()
    varlen_attention.use(model, kernel=varlen_attention.reference_kernel)
    flattened = transformers.DataCollatorWithFlattening()(features())  # position ids only
    plain = torch.randint(10, VOCAB, (3, 10), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(model(**flattened).logits, sdpa_model(**flattened).logits)
        torch.testing.assert_close(model(input_ids=plain).logits, sdpa_model(input_ids=plain).logits)


def test_generate_gives_what_sdpa_gives():
    sdpa_model, model = lora_model(), lora_model()
    varlen_attention.use(model, kernel=varlen_attention.reference_kernel)
    prompt = torch.randint(10, VOCAB, (1, 6), generator=torch.Generator().manual_seed(5))
    assert model.generate(prompt, max_new_tokens=4, do_sample=False).tolist() == sdpa_model.generate(
        prompt, max_new_tokens=4, do_sample=False).tolist()


def tiny(config_class, attention="sdpa", **extra):
    config = config_class(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, vocab_size=VOCAB, **extra)
    return transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attention)


@pytest.mark.parametrize(("build", "suits"), [
    (lambda: tiny(transformers.LlamaConfig), True),
    (lambda: tiny(transformers.Qwen2Config), True),  # its sliding window is off by default
    (lambda: tiny(transformers.MistralConfig, sliding_window=16), False),
    (lambda: tiny(transformers.Gemma2Config, attention="eager", head_dim=16), False),  # soft-capped
    (lambda: tiny(transformers.LlamaConfig, attention="eager"), False),  # not SDPA to begin with
    (lambda: tiny(transformers.LlamaConfig, attention_dropout=0.1), False),
    (lambda: tiny(transformers.DeepseekV2Config, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                  kv_lora_rank=16, q_lora_rank=None, n_routed_experts=4, first_k_dense_replace=2), False),
])
def test_models_it_does_not_suit_keep_their_attention(build, suits):
    import dataclasses

    from studio.engine import layer_setup
    from studio.engine.fast_path import FastPath

    model = build()
    before = model.config._attn_implementation
    path = FastPath(packing=True, liger=False, fused_adamw=False, tf32=False, attention="varlen")
    taken = layer_setup.apply(model, path)
    assert (taken.attention == "varlen") == suits
    assert model.config._attn_implementation == (varlen_attention.NAME if suits else before)
    assert taken == (path if suits else dataclasses.replace(path, attention="sdpa"))


def test_rows_the_flash_kernel_cannot_take_go_one_sequence_at_a_time():
    """CPU or fp32 rows, and value heads of another size: one SDPA call per sequence."""
    varlen_attention._KERNEL = varlen_attention.flash_kernel
    cpu_bf16 = torch.zeros(1, 2, 3, 4, dtype=torch.bfloat16)
    assert varlen_attention._kernel_for(cpu_bf16) is varlen_attention.reference_kernel
    if not torch.cuda.is_available():
        assert not varlen_attention.available()
        varlen_attention._KERNEL = None
        model, sdpa_model = lora_model(), lora_model()
        assert varlen_attention.use(model) and varlen_attention._KERNEL is None  # no flash kernel here
        batch = data_prep.PackedCollator(0, boundaries=True)(features())
        with torch.no_grad():
            torch.testing.assert_close(model(**batch).logits, sdpa_model(**batch).logits)
    generator = torch.Generator().manual_seed(8)
    q, k = torch.randn(1, 4, 10, 8, generator=generator), torch.randn(1, 2, 10, 8, generator=generator)
    v = torch.randn(1, 2, 10, 6, generator=generator)  # value heads narrower than the keys'
    starts = torch.tensor([0, 4, 10])
    out, _ = varlen_attention.attention(torch.nn.Module(), q, k, v, None, cu_seq_lens_q=starts, max_length_q=6)
    first = torch.nn.functional.scaled_dot_product_attention(q[:, :, :4], k[:, :, :4], v[:, :, :4], is_causal=True,
                                                             enable_gqa=True)
    torch.testing.assert_close(out[:, :4], first.transpose(1, 2))
