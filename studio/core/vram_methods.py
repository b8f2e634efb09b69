"""What an adapter method keeps in GPU memory beside the frozen base, summed from its records.

LoRA's terms were measured (docs/vram_measurements.jsonl) and the fit's constants absorb what they
leave out; the other tuners differ in kind, not only in size, so each record says its own
(core.methods ``Memory``): LoHa and LoKr build each layer's whole update every forward and keep
its bf16 cast, VeRA keeps an output-sized activation and casts slices of its shared projections per
layer, OFT rebuilds its rotation blocks, AdaLoRA scores every parameter's importance. core.vram adds
them to the activations (per token, and per layer whatever the batch), the adapter (VeRA's shared
projections) and the optimizer states (AdaLoRA's importance scores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from studio.core import methods
from studio.core.jobs import LoraSettings


@dataclass(frozen=True)
class AdapterMemory:
    per_token: float  # bytes per token kept by one decoder layer's adapted layers
    per_layer: float  # bytes one decoder layer's adapted layers keep whatever the batch
    working: float  # transient bytes while the largest adapted layer's update is built or differentiated
    shared: float  # bytes once per model (VeRA's shared projections)
    per_trainable: float  # bytes per trainable parameter beside the optimizer's states
    measured: bool  # LoRA's terms were measured on a GPU; every other tuner's is read from peft's code


def adapter_memory(lora: LoraSettings, shapes: dict[str, tuple[int, int]], modules: Sequence[str],
                   dropout: float, quantization: str = "none") -> AdapterMemory:
    """The memory terms of ``lora``'s tuner and variants for the adapted ``modules`` of one decoder
    layer; ``dropout``: the one the run trains with (a preference stage's trainer turns it off)."""
    settings = replace(lora, dropout=dropout)
    terms = [record.memory for record in methods.records(settings, quantization)]
    adapted = [shapes[name] for name in modules if name in shapes]

    def each(pick: Callable[[methods.Memory], methods.PerLayer | None]) -> list[float]:
        return [count(fan_in, fan_out, settings) for term in terms if (count := pick(term)) is not None
                for fan_in, fan_out in adapted]

    shared = 0.0
    if adapted:
        widest = (max(i for i, _ in adapted), max(o for _, o in adapted))
        shared = sum(term.shared(*widest, settings) for term in terms if term.shared is not None)
    return AdapterMemory(
        per_token=sum(each(lambda term: term.per_token)),
        per_layer=sum(each(lambda term: term.per_layer)),
        working=max(each(lambda term: term.working), default=0.0),
        shared=shared,
        per_trainable=sum(term.per_trainable for term in terms),
        measured=lora.tuner == "lora",
    )
