"""LoRA variants by short name, and the job fields each one sets.

A "method" is only a shorthand for a few job fields (``dora`` = ``lora.use_dora``),
shared by the CLI's ``--method`` flag and the GUI's Method box so both mean the same
thing. The GUI also needs the reverse (which method is this job?) and a clean switch
from one method to another, which resets the fields the old method had set.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from studio.core.jobs import TrainJob

# name -> {section: {field: value}}; "lora" is plain LoRA (every field at its default).
METHODS: dict[str, dict[str, dict[str, Any]]] = {
    "lora": {},
    "rslora": {"lora": {"use_rslora": True}},
    "dora": {"lora": {"use_dora": True}},
    "qlora": {"model": {"quantization": "4bit"}},
    "pissa": {"lora": {"init": "pissa"}},
    "olora": {"lora": {"init": "olora"}},
    "loraplus": {"lora": {"loraplus_lr_ratio": 16.0}},  # the LoRA+ paper's ratio
}

METHOD_LABELS: dict[str, str] = {
    "lora": "LoRA",
    "rslora": "rsLoRA",
    "dora": "DoRA",
    "qlora": "QLoRA 4-bit",
    "pissa": "PiSSA init",
    "olora": "OLoRA init",
    "loraplus": "LoRA+",
}

METHOD_HELP: dict[str, str] = {
    "lora": "Plain LoRA: a low-rank update B·A beside each frozen layer. The safe default.",
    "rslora": "rsLoRA: scales by alpha/sqrt(r) instead of alpha/r, so high ranks (64+) stay stable.",
    "dora": "DoRA: learns magnitude and direction apart; better at low rank, about 20% slower.",
    "qlora": "QLoRA: the frozen base is loaded in 4-bit NF4, about a quarter of the memory. Needs a CUDA GPU.",
    "pissa": "PiSSA: starts the adapter from the principal singular vectors; converges faster. "
             "Needs the full-precision base.",
    "olora": "OLoRA: orthonormal initialisation (QR of the weights); steadier early training.",
    "loraplus": "LoRA+: B learns 16x faster than A; often converges faster at no cost.",
}


def method_fields() -> dict[tuple[str, str], Any]:
    """Every (section, field) some method sets, with its default value."""
    defaults = dataclasses.asdict(TrainJob())
    return {(section, name): defaults[section][name]
            for values in METHODS.values() for section, fields in values.items() for name in fields}


def apply_method(data: dict[str, Any], method: str) -> dict[str, Any]:
    """A copy of a job dict with ``method``'s fields set and every other method's reset."""
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    out = copy.deepcopy(data)
    for (section, name), default in method_fields().items():
        out.setdefault(section, {})[name] = default
    for section, values in METHODS[method].items():
        out.setdefault(section, {}).update(values)
    return out


def detect_method(data: dict[str, Any]) -> str | None:
    """The one method whose fields match the job dict exactly, or None (a combination,
    8-bit loading, or a custom LoRA+ ratio)."""
    current = {key: data.get(key[0], {}).get(key[1], default) for key, default in method_fields().items()}
    for method in METHODS:
        wanted = apply_method({}, method)
        if all(current[key] == wanted[key[0]][key[1]] for key in current):
            return method
    return None
