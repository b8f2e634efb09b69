"""The fast path's layer changes on a real tiny Llama: per-layer checkpointing keeps less
only where asked and computes the same gradients; offloaded checkpoints replay the same
dropout masks; compiled layers train to the same losses."""

from __future__ import annotations

import dataclasses

import peft
import pytest
import torch
import transformers

from studio.engine import layer_setup
from studio.engine.fast_path import FastPath

PLAIN = FastPath(packing=False, liger=False, fused_adamw=False, tf32=False)
LAYERS = 4


def lora_model(dropout: float = 0.0, checkpointing: bool = True):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=LAYERS,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=256)
    model = transformers.AutoModelForCausalLM.from_config(config)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout,
                                                       target_modules="all-linear", init_lora_weights="gaussian"))
    model.train()
    return model


def batch() -> torch.Tensor:
    return torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(1))


def gradients(model) -> dict[str, torch.Tensor]:
    torch.manual_seed(7)  # the same dropout masks for every model compared
    ids = batch()
    model(input_ids=ids, labels=ids).loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


def saved_tensors(model) -> int:
    """How many tensors autograd keeps for the backward pass of one forward."""
    count = 0

    def pack(tensor):
        nonlocal count
        count += 1
        return tensor

    ids = batch()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(input_ids=ids, labels=ids)
    return count


def test_only_the_first_layers_are_checkpointed():
    model = lora_model()
    taken = layer_setup.apply(model, dataclasses.replace(PLAIN, checkpointed=1, layers=LAYERS))
    assert taken.checkpointed == 1
    assert [layer.gradient_checkpointing for layer in layer_setup.decoder_layers(model)] == [True, False, False, False]


def test_a_plan_for_other_layers_is_not_applied():
    """Planned for another layer count: every layer stays checkpointed, and the path says so;
    a model without transformers' checkpointing layers gets none of the layer changes."""
    model = lora_model()
    taken = layer_setup.apply(model, dataclasses.replace(PLAIN, checkpointed=1, layers=32))
    assert taken.checkpointed is None and all(layer.gradient_checkpointing for layer in layer_setup.decoder_layers(model))
    other = torch.nn.Sequential(torch.nn.Linear(4, 4))
    taken = layer_setup.apply(other, dataclasses.replace(PLAIN, compile=True, checkpointed=1, layers=1, offload=True))
    assert (taken.compile, taken.checkpointed, taken.offload) == (False, None, False)


def test_offloaded_inputs_wait_off_the_gpu_and_grad_free_inputs_still_train():
    linear = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8, requires_grad=True)
    out = layer_setup.offloaded_checkpoint(linear, x)
    kept = out.grad_fn.kept  # the autograd function's context
    assert kept[0].device.type == "cpu" and kept[0].data_ptr() != x.data_ptr()
    out.sum().backward()
    assert x.grad is not None and linear.weight.grad is not None
    linear.weight.grad = None
    frozen_input = torch.randn(2, 8)  # no input requires grad: torch's own checkpoint serves
    result = layer_setup.offloaded_checkpoint(linear, frozen_input)
    assert result.requires_grad
    result.sum().backward()
    torch.testing.assert_close(linear.weight.grad, torch.ones(8, 2) @ frozen_input)


def test_fewer_checkpointed_layers_keep_more_and_compute_the_same_gradients():
    kept = {}
    grads = {}
    for k in (LAYERS, 2, 0):
        model = lora_model()
        layer_setup.apply(model, dataclasses.replace(PLAIN, checkpointed=k, layers=LAYERS))
        kept[k], grads[k] = saved_tensors(model), gradients(model)
    assert kept[LAYERS] < kept[2] < kept[0]
    for k in (2, 0):
        for name, grad in grads[LAYERS].items():
            torch.testing.assert_close(grads[k][name], grad)


def test_offloaded_checkpoints_replay_the_dropout_masks_and_match_plain_backward():
    plain = gradients(lora_model(dropout=0.2, checkpointing=False))
    model = lora_model(dropout=0.2)
    layer_setup.apply(model, dataclasses.replace(PLAIN, offload=True))
    assert all(layer._gradient_checkpointing_func is layer_setup.offloaded_checkpoint
               for layer in layer_setup.decoder_layers(model))
    offloaded = gradients(model)
    assert plain.keys() == offloaded.keys()
    for name, grad in plain.items():
        torch.testing.assert_close(offloaded[name], grad)
    assert saved_tensors(model) < saved_tensors(lora_model(dropout=0.2, checkpointing=False))


def test_offloading_leaves_the_callers_random_stream_alone():
    model = lora_model(dropout=0.2)
    layer_setup.apply(model, dataclasses.replace(PLAIN, offload=True))
    torch.manual_seed(3)
    ids = batch()
    model(input_ids=ids, labels=ids).loss.backward()
    after_offloaded = torch.rand(3)
    reference = lora_model(dropout=0.2)
    torch.manual_seed(3)
    reference(input_ids=ids, labels=ids).loss.backward()
    torch.testing.assert_close(after_offloaded, torch.rand(3))


@pytest.mark.slow
def test_compiled_layers_train_to_the_same_losses():
    """torch.compile on the CPU (inductor's C++ backend): half the layers checkpointed."""
    import torch._dynamo

    losses = {}
    suppress = torch._dynamo.config.suppress_errors
    for compiled in (False, True):
        model = lora_model()
        layer_setup.apply(model, dataclasses.replace(PLAIN, compile=compiled, checkpointed=2, layers=LAYERS))
        torch._dynamo.config.suppress_errors = False  # a failed compile must fail here, not fall back
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        ids = batch()
        losses[compiled] = []
        for _ in range(3):
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses[compiled].append(loss.item())
        if compiled:  # a sample's generate() runs the compiled layers eagerly: no new graphs
            from torch._dynamo.utils import counters

            graphs = counters["stats"]["unique_graphs"]
            with torch.no_grad(), layer_setup.eager():
                model.eval()
                model.generate(input_ids=ids[:1, :4], max_new_tokens=3, do_sample=False)
            assert counters["stats"]["unique_graphs"] == graphs > 0
    torch._dynamo.config.suppress_errors = suppress
    assert losses[True] == pytest.approx(losses[False], abs=1e-4)
    assert losses[True][-1] < losses[True][0]


def test_a_run_with_offloaded_checkpoints_trains_like_one_without(tiny_model_dir, tmp_path):
    """Through the engine's own train(): the same job checkpointed normally and offloaded
    (dropout on) gives the same loss curve, and the loss drops."""
    from helpers import Recorder, tiny_job

    from studio.core import protocol
    from studio.engine.control import JobControl
    from studio.engine.training import train

    curves = {}
    for offload in (False, True):
        rec = Recorder()
        job = tiny_job(tiny_model_dir, lora={"dropout": 0.1},
                       training={"max_steps": 8, "gradient_checkpointing": True, "offload_activations": offload})
        train(job, tmp_path / f"run-{offload}", rec, JobControl())
        curves[offload] = rec.losses()
        said = [e.detail for e in rec.of(protocol.Phase) if e.detail and e.detail.startswith("fast path")]
        assert ("checkpointed inputs in CPU memory" in said[0]) == offload
    assert curves[True] == pytest.approx(curves[False], abs=1e-4)
    assert sum(curves[True][-3:]) < sum(curves[True][:3])
