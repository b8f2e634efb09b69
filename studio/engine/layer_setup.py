"""The fast path's changes to the decoder layers: which recompute, which compile, and
checkpointed inputs kept on the CPU.

Per-layer checkpointing uses transformers' own switch (``GradientCheckpointingLayer``'s
``gradient_checkpointing``): the first ``k`` layers recompute, the rest keep their
activations. The first ones, because a layer is recomputed only when the backward pass
reaches it, after the later layers' activations are already freed.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
import torch.utils.checkpoint

from studio.engine import varlen_attention
from studio.engine.fast_path import FastPath


def decoder_layers(model) -> list[torch.nn.Module]:
    """The checkpointable decoder layers, in order (under peft's wrappers too)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]


def apply(model, path: FastPath) -> FastPath:
    """Apply ``path`` to the model's decoder layers; returns the path really taken (none of
    the layer changes when the model has no transformers checkpointing layers, and every
    layer checkpointed when their count is not the one planned for)."""
    if path.attention == "varlen" and not varlen_attention.use(model):
        # A model it does not suit keeps its attention, and its steps run eagerly (engine.step_graphs).
        path = dataclasses.replace(path, attention="sdpa", graphs=False)
    layers = decoder_layers(model)
    if not layers:  # checkpointed, if at all, some other way: no graphs either
        return dataclasses.replace(path, compile=False, checkpointed=None, offload=False, graphs=False)
    if path.checkpointed is not None and len(layers) != path.layers:
        path = dataclasses.replace(path, checkpointed=None)
    if path.checkpointed is not None:
        for index, layer in enumerate(layers):
            if index >= path.checkpointed:
                layer.gradient_checkpointing = False
    if path.graphs and any(layer.gradient_checkpointing for layer in layers):
        # A checkpointed layer's recompute saves and restores the RNG state: no CUDA graph can capture it.
        path = dataclasses.replace(path, graphs=False)
    if path.offload:
        for layer in layers:
            if layer.gradient_checkpointing:
                layer._gradient_checkpointing_func = offloaded_checkpoint
    if path.compile:
        # A graph inductor can't compile runs eagerly (dynamo warns) instead of ending the run;
        # train/eval, checkpointed or not and the first layer's input are separate graphs of
        # the one code object the layers share: room for all of them.
        torch._dynamo.config.suppress_errors = True
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        # The first layer's input comes from the frozen embeddings and needs no gradient, the
        # others' do: two graphs, each compiled forward and backward (the H200's job log: 96 s of
        # a cold compile for the pair). Asking the embeddings' output for a gradient gives every
        # layer the one graph, for one extra input-gradient pass through the first layer.
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
        for layer in layers:
            # One compiled graph serves every layer (their parameters are inputs, not constants);
            # a checkpointed and a plain layer are two graphs. Packed rows change length every
            # step: dynamic shapes from the start instead of a recompile per length.
            layer.compile(dynamic=True if path.packing or path.varying_lengths else None)
    return path


def compiled_graphs() -> int:
    """Graphs torch.compile made in this process (0 when every attempt fell back to eager)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"].get("unique_graphs", 0))


def compile_summary() -> str:
    """What torch.compile spent, for the run's log: graphs, recompiles and seconds by stage."""
    from torch._dynamo.utils import compile_times, counters

    caches = {f"{group}.{name}": count for group in ("inductor", "aot_autograd") for name, count in
              counters[group].items() if "cache" in name}
    return (f"torch.compile: frames {dict(counters['frames'])}, stats {dict(counters['stats'])}, "
            f"caches {caches}\n{compile_times(repr='str', aggregate=True)}")


def eager():
    """A context in which compiled layers run eagerly: a sample's token-by-token generate()
    would otherwise compile new graphs for shapes it uses once."""
    set_stance = getattr(torch.compiler, "set_stance", None)  # torch >= 2.6
    return set_stance("force_eager") if set_stance else contextlib.nullcontext()


def offloaded_checkpoint(function, *args):
    """Like torch.utils.checkpoint, but the layer's tensor inputs wait in pinned CPU memory
    until the backward pass recomputes it (the GPU keeps nothing of the layer).

    An autograd function's output needs a grad-requiring input to be part of the graph at
    all; without one (frozen embeddings and no input grads) torch's own checkpoint serves."""
    if not any(torch.is_tensor(a) and a.requires_grad for a in args):
        return torch.utils.checkpoint.checkpoint(function, *args, use_reentrant=False)
    return _Offloaded.apply(function, *args)


class _Offloaded(torch.autograd.Function):
    @staticmethod
    def forward(ctx, function, *args):
        ctx.function = function
        ctx.device = next((a.device for a in args if torch.is_tensor(a)), torch.device("cpu"))
        ctx.rng = (torch.get_rng_state(), torch.cuda.get_rng_state(ctx.device) if ctx.device.type == "cuda" else None)
        ctx.autocast = (torch.is_autocast_enabled(ctx.device.type), torch.get_autocast_dtype(ctx.device.type))
        ctx.kept = [_to_host(a) if torch.is_tensor(a) else a for a in args]
        ctx.needs_grad = [torch.is_tensor(a) and a.requires_grad for a in args]
        with torch.no_grad():
            return function(*args)

    @staticmethod
    def backward(ctx, *grads):
        inputs = [a.to(ctx.device, non_blocking=True).requires_grad_(need) if torch.is_tensor(a) else a
                  for a, need in zip(ctx.kept, ctx.needs_grad, strict=True)]
        cuda = [ctx.device] if ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # the same dropout masks as the forward pass
            torch.set_rng_state(ctx.rng[0])
            if cuda:
                torch.cuda.set_rng_state(ctx.rng[1], ctx.device)
            with torch.enable_grad(), torch.autocast(ctx.device.type, enabled=ctx.autocast[0],
                                                     dtype=ctx.autocast[1]):
                outputs = ctx.function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads, strict=False)
                 if torch.is_tensor(o) and o.requires_grad and g is not None]
        torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, *[a.grad if torch.is_tensor(a) and need else None
                        for a, need in zip(inputs, ctx.needs_grad, strict=True)])


def _to_host(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.device.type != "cuda":
        return tensor.detach().clone()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor.detach(), non_blocking=True)
    return host
