"""The CPU's loss from the labelled positions alone (engine.output_loss) is the model's loss:
the same value and the same gradients, padded or packed, in one slice or many."""

from __future__ import annotations

import pytest
import torch

from studio.core.jobs import LoraSettings
from studio.engine import adapter_setup, data_prep
from studio.engine.output_loss import OutputLoss


@pytest.fixture
def adapted(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = adapter_setup.apply_adapter(model, LoraSettings(r=4, alpha=8, dropout=0.0), False, quantized=False)
    for name, param in model.named_parameters():  # B = 0 would leave the A matrices without gradient
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    return model.train()


@pytest.fixture
def tokenizer(tiny_model_dir):
    from studio.engine.model_loading import load_tokenizer

    return load_tokenizer(tiny_model_dir)


def rows(vocab: int) -> list[dict[str, list[int]]]:
    """Three rows of different lengths; each trains on its second half (a response)."""
    generator = torch.Generator().manual_seed(1)
    out = []
    for length in (9, 23, 14):
        ids = torch.randint(5, vocab, (length,), generator=generator).tolist()
        out.append({"input_ids": ids, "labels": [data_prep.IGNORE] * (length // 2) + ids[length // 2:]})
    return out


def grads(model) -> dict[str, torch.Tensor]:
    found = {name: param.grad.clone() for name, param in model.named_parameters() if param.grad is not None}
    model.zero_grad(set_to_none=True)
    return found


@pytest.mark.parametrize("packing", [False, True])
@pytest.mark.parametrize("num_items", [None, 40])
@pytest.mark.parametrize("slice_rows", [1000, 3])
def test_same_loss_and_gradients_as_the_model(adapted, tokenizer, packing, num_items, slice_rows):
    batch = data_prep.collator(tokenizer, packing)(rows(adapted.config.vocab_size))
    kwargs = {} if num_items is None else {"num_items_in_batch": torch.tensor(num_items)}
    expected = adapted(**batch, **kwargs).loss
    expected.backward()
    wanted = grads(adapted)

    output_loss = OutputLoss.for_model(adapted)
    assert output_loss is not None
    output_loss.rows_per_slice = slice_rows  # several slices: each one's logits freed before the next
    loss, outputs = output_loss(adapted, batch, num_items)
    loss.backward()
    got = grads(adapted)
    assert outputs.logits.shape[-2] == 0  # no position's logits were kept
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert got.keys() == wanted.keys() and any("lora_A" in name for name in got)
    for name, grad in wanted.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_without_gradients_it_keeps_nothing_for_a_backward(adapted, tokenizer):
    batch = data_prep.collator(tokenizer, False)(rows(adapted.config.vocab_size))
    with torch.no_grad():
        expected = adapted(**batch).loss
        loss, _ = OutputLoss.for_model(adapted)(adapted, batch)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5) and loss.grad_fn is None


def test_only_where_it_is_the_models_own_loss(adapted, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    adapted.get_output_embeddings().weight.requires_grad_(True)  # a trained output layer: its own backward
    assert OutputLoss.for_model(adapted) is None
    other = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    other.config.model_type = "gemma2"  # soft-capped logits
    assert OutputLoss.for_model(other) is None



def test_not_under_adalora_whose_forward_adds_to_the_loss(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    adalora = adapter_setup.apply_adapter(model, LoraSettings(r=4, alpha=8, tuner="adalora"), False, quantized=False,
                                          total_steps=10)
    assert OutputLoss.for_model(adalora) is None
