"""Which model families may pack: a packed row must give every example the logits it gets
alone. The fast path packs automatically only the families that pass here, and refuses
packing for those known to leak (engine.fast_path.PACKING_TYPES / PACKING_LEAKS)."""

from __future__ import annotations

import warnings

import pytest
import torch
import transformers

from studio.core.jobs import LoraSettings, TrainJob
from studio.engine import adapter_setup, fast_path
from studio.engine.hardware import Hardware

SIZES = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=256, n_embd=64, n_layer=2, n_head=4, n_positions=256,
             max_position_embeddings=256, ffn_dim=128, word_embed_proj_dim=64, head_dim=16, pad_token_id=0)


def tiny(model_type: str):
    config = transformers.AutoConfig.for_model(model_type)
    for name, value in SIZES.items():
        if hasattr(config, name):
            try:
                setattr(config, name, value)
            except AttributeError:  # derived (a property without a setter)
                pass
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.AutoModelForCausalLM.from_config(config)
    model = adapter_setup.apply_adapter(model, LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["all-linear"]),
                                        gradient_checkpointing=False, quantized=False)
    return model.eval()


def packed_against_alone(model_type: str) -> float:
    model = tiny(model_type)
    rows = [torch.randint(10, 256, (n,), generator=torch.Generator().manual_seed(n)).tolist() for n in (5, 9, 7)]
    batch = transformers.DataCollatorWithFlattening()([{"input_ids": r, "labels": r} for r in rows])
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        alone = torch.cat([model(input_ids=torch.tensor([r])).logits[0] for r in rows])
    return float((packed - alone).abs().max())


@pytest.mark.parametrize("model_type", sorted(fast_path.PACKING_TYPES))
def test_packed_examples_of_these_families_never_see_each_other(model_type):
    assert packed_against_alone(model_type) < 1e-4


@pytest.mark.parametrize("model_type", sorted(fast_path.PACKING_LEAKS))
def test_these_families_leak_so_packing_is_refused(model_type):
    assert packed_against_alone(model_type) > 1e-3  # still true, or the list is out of date
    job = TrainJob()
    job.training.packing = True
    path = fast_path.choose(job, Hardware("cuda", "bf16"), model_type, [50, 900])
    assert not path.packing and path.packing_refused
    assert "would attend to each other" in path.describe()


def test_unlisted_families_are_not_packed_automatically():
    path = fast_path.choose(TrainJob(), Hardware("cuda", "bf16"), "someday_net", [50, 900, 60, 2048])
    assert not path.packing and not path.packing_refused
