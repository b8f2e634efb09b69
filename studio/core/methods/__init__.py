"""Adapter methods: one record each, read by every part of the app that offers them.

A method is what the CLI's ``--method`` and the Train page's Method box choose. For a LoRA
variant it is a few job fields (``dora`` = ``lora.use_dora``); for a tuner of its own
(``loha`` = ``lora.tuner``) the record also says how peft builds it, what it trains per
layer and what it can run with. Every record may say what it keeps in memory beside the base
(``Memory``: the estimator's terms) and how a size preset changes for it (``PresetChange``:
VeRA's rank 256). Each module of this package registers one record (peft's
``register_peft_method`` is the model), so adding a method is one module and its test. The
records hold plain data: the engine turns them into peft's config classes, and core never
imports peft.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.core.jobs import LoraSettings, TrainJob

ALL_QUANTIZATIONS = ("none", "8bit", "4bit")
# peft's LyCORIS layers (LoHa, LoKr) shape the update from the base weight: an 8-bit base trains like
# a full one (H200, docs/benchmarks.md), a 4-bit one's packed weights fail.
LYCORIS_QUANTIZATIONS = ("none", "8bit")
LYCORIS_QUANTIZATION_NOTE = ("can't train on a 4-bit base: peft's LyCORIS layers shape the update from the base "
                             "weight, which 4-bit packs")


PerLayer = Callable[[int, int, LoraSettings], float]  # (fan_in, fan_out, settings) of one adapted linear layer


@dataclass(frozen=True)
class Memory:
    """What a method keeps in GPU memory beyond the frozen base layer it adapts, for core.vram. Each
    term is bytes for one adapted (in, out) linear layer under bf16 autocast (read from peft's forward:
    what autograd saves, which weights it casts); a variant's terms add to its tuner's."""

    per_token: PerLayer | None = None  # activations kept for the backward pass, per token
    per_layer: PerLayer | None = None  # tensors its forward keeps whatever the batch (a built update, casts)
    working: PerLayer | None = None  # transient while one layer's update is built or differentiated (the largest counts)
    shared: PerLayer | None = None  # once per model, from the largest (in, out) adapted: VeRA's shared projections
    per_trainable: float = 0.0  # bytes per trainable parameter beside the optimizer's (AdaLoRA's importance scores)


@dataclass(frozen=True)
class PresetChange:
    """How a size preset (core.presets) changes for this method, where its rank or learning rate means
    something else than LoRA's: core.presets.for_method applies it, the Train form when a method is chosen."""

    r: int = 0  # the rank to use instead of the preset's; 0 keeps the preset's
    learning_rate_factor: float = 1.0  # times the preset's learning rate
    why: str = ""  # said beside the changed values

    def __bool__(self) -> bool:
        return bool(self.r) or self.learning_rate_factor != 1.0


@dataclass(frozen=True)
class Method:
    name: str  # the CLI's --method value and the Method box's data
    label: str  # the Method box's words
    help: str  # one line: what it is and when to pick it (the box's tooltip, the CLI's help)
    order: int  # place in the Method box, and in labels such as "qlora+dora+rslora"
    sets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # a variant's job fields: {section: {field: value}}
    tuner: str = "lora"  # the lora.tuner it trains; a tuner's own record has name == tuner, and sets it
    uses: tuple[str, ...] = ("r", "alpha", "dropout", "target_modules")  # LoraSettings fields it reads
    # How peft builds it: only on a tuner's own record (a variant's fields are read by its tuner's).
    peft_type: str = ""  # adapter_config.json's peft_type, e.g. "LORA"
    peft_config: str = ""  # peft's config class, e.g. "LoraConfig"
    peft_fields: Mapping[str, str] = field(default_factory=dict)  # LoraSettings field -> config keyword
    peft_fixed: Mapping[str, Any] = field(default_factory=dict)  # keywords that never change
    peft_derived: Callable[[LoraSettings], dict[str, Any]] | None = None  # keywords computed from the settings
    schedule: Callable[[int], dict[str, Any]] | None = None  # keywords from the run's optimizer steps
    after_optimizer_step: str = ""  # a method of peft's tuner model called with the step after each update
    # A config keyword set once that hook's work is done: a run continuing such an adapter keeps
    # it and skips the hook (AdaLoRA's rank_pattern: peft reloads ranks allocated once, not twice).
    step_hook_done: str = ""
    trainable: Callable[[int, int, LoraSettings], int] | None = None  # per adapted (in, out) linear layer
    # What it can run with; a variant's limits add to its tuner's. Where it can't, the job is refused.
    quantization: tuple[str, ...] = ALL_QUANTIZATIONS  # base loadings peft has layers for
    quantization_note: str = ""  # why not, said where a job asks for another
    combines: bool = True  # several adapters into one (peft's add_weighted_adapter: the Merge page)
    exports: bool = True  # merged into the base (merge_and_unload: export, GGUF, output.save_merged)
    # torch.compile of the decoder layers on the GPU fast path: a tuner's False refuses compile = on; any
    # record in use saying False keeps compile = auto off (core.compile_choice), as DoRA's does.
    compiles: bool = True
    cuda_graphs: bool = True  # the fast path's CUDA graphs of each step
    fsdp_note: str = ""  # why FSDP can't shard it; empty: it can
    resumes: bool = True  # a stopped run resumes from its checkpoint (training.resume_from)
    adds_loss: bool = False  # its forward adds a term to the model's loss: the engine keeps the model's own loss
    memory: Memory = field(default_factory=Memory)  # what it keeps beside the base (core.vram)
    preset: PresetChange = field(default_factory=PresetChange)  # a size preset's rank and rate for it

    @property
    def is_tuner(self) -> bool:
        return self.name == self.tuner

    @property
    def job_fields(self) -> dict[str, dict[str, Any]]:
        """What choosing it sets: a variant's fields, or a tuner's name in ``lora.tuner``."""
        fields = {section: dict(values) for section, values in self.sets.items()}
        if self.is_tuner:
            fields.setdefault("lora", {})["tuner"] = self.tuner
        return fields


METHODS: dict[str, Method] = {}  # by name, in the Method box's order once discovered


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is registered twice")
    METHODS[method.name] = method
    return method


def tuner(name: str) -> Method:
    """The record of a ``lora.tuner`` value."""
    method = METHODS.get(name)
    if method is None or not method.is_tuner:
        raise KeyError(f"unknown tuner {name!r}; known: {', '.join(tuner_names())}")
    return method


def tuner_names() -> list[str]:
    return [m.name for m in METHODS.values() if m.is_tuner]


def tuner_of_peft_config(config: Mapping[str, Any]) -> Method | None:
    """The tuner an adapter_config.json describes (None: one the app does not train)."""
    peft_type = str(config.get("peft_type") or "LORA").rsplit(".", 1)[-1].upper()
    return next((m for m in METHODS.values() if m.is_tuner and m.peft_type == peft_type), None)


# -- the job fields each method sets --------------------------------------------------------------

@functools.cache
def _defaults() -> dict[str, Any]:
    """A default job as a dict (read only): what a field at its default is compared with."""
    return dataclasses.asdict(TrainJob())


def method_fields() -> dict[tuple[str, str], Any]:
    """Every (section, field) some method sets, with its default value."""
    defaults = _defaults()
    return {(section, name): defaults[section][name]
            for method in METHODS.values() for section, fields in method.job_fields.items() for name in fields}


def apply_method(data: dict[str, Any], method: str) -> dict[str, Any]:
    """A copy of a job dict with ``method``'s fields set and every other method's reset."""
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    out = copy.deepcopy(data)
    for (section, name), default in method_fields().items():
        out.setdefault(section, {})[name] = default
    for section, values in METHODS[method].job_fields.items():
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


def _has(data: Mapping[str, Mapping[str, Any]], method: Method) -> bool:
    """Whether a job dict has a variant's fields: a choice at its value, a number (LoRA+'s
    ratio) at any value but its default."""
    if not method.sets or method.is_tuner:
        return False
    defaults = _defaults()
    for section, values in method.sets.items():
        for name, value in values.items():
            current = data.get(section, {}).get(name, defaults[section][name])
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if (current == defaults[section][name]) if numeric else (current != value):
                return False
    return True


def _in_use(lora: Mapping[str, Any], quantization: str) -> list[Method]:
    """The variants (other than the tuner) whose fields a job's lora section and loading have."""
    data = {"lora": lora, "model": {"quantization": quantization}}
    return [m for m in METHODS.values() if _has(data, m)]


def in_use(job: TrainJob) -> list[Method]:
    """The job's tuner's record, then every variant it uses: what its limits are read from."""
    return records(job.lora, job.model.quantization)


def records(lora: LoraSettings, quantization: str = "none") -> list[Method]:
    """The settings' tuner's record, then every variant they use (DoRA, rsLoRA, ...): what the
    estimator's memory terms and the compile choice read."""
    return [tuner(lora.tuner), *_in_use(dataclasses.asdict(lora), quantization)]


def preset_change(method: str) -> PresetChange:
    """How a size preset changes for ``method`` (a name in METHODS): its own record's change, else
    its tuner's."""
    record = METHODS[method]
    return record.preset if record.preset or record.is_tuner else tuner(record.tuner).preset


def method_label(lora: Mapping[str, Any], quantization: str = "none") -> str:
    """A short name for a job's method, e.g. ``qlora+dora`` or ``loha+8bit``: the card's, the
    run list's and the Library filter's (the one rule, also for imported adapters)."""
    head = str(lora.get("tuner") or "lora")
    parts: list[str] = []
    loading = quantization != "none"
    for method in _in_use(lora, quantization):
        if "model" in method.sets:  # a loading of its own name (qlora)
            if method.tuner == head:
                head, loading = method.name, False
        else:
            parts.append(method.name)
    return "+".join([head, *([quantization] if loading else []), *parts])


# -- what peft is asked for ----------------------------------------------------------------------

def peft_arguments(settings: LoraSettings, total_steps: int = 0) -> tuple[str, dict[str, Any]]:
    """(peft config class name, its keywords but target_modules and task_type) for the settings;
    ``total_steps``: the run's optimizer steps, for a tuner with a schedule (AdaLoRA)."""
    record = tuner(settings.tuner)
    kwargs = {keyword: getattr(settings, name) for name, keyword in record.peft_fields.items()}
    kwargs.update(record.peft_fixed)
    if record.peft_derived is not None:
        kwargs.update(record.peft_derived(settings))
    if record.schedule is not None:
        kwargs.update(record.schedule(total_steps))
    return record.peft_config, kwargs


def settings_from_peft(config: Mapping[str, Any]) -> dict[str, Any]:
    """The LoraSettings fields an adapter_config.json stands for (tuner, rank, ...): what a
    continued run keeps of its parent, and what an imported adapter is labelled by."""
    record = tuner_of_peft_config(config)
    if record is None:
        return {}
    return {"tuner": record.name,
            **{name: config[keyword] for name, keyword in record.peft_fields.items() if keyword in config}}


def peft_config_label(config: Mapping[str, Any]) -> str:
    """The label of an adapter known only by its adapter_config.json (an imported one): the
    same rule as a trained one's, or peft's own name for a tuner the app does not train."""
    settings = settings_from_peft(config)
    if not settings:
        return str(config.get("peft_type") or "unknown").rsplit(".", 1)[-1].lower()
    return method_label(settings)


def trainable_per_layer(settings: LoraSettings, fan_in: int, fan_out: int) -> int:
    """Parameters the settings' tuner trains for one adapted linear layer of this shape."""
    count = tuner(settings.tuner).trainable
    if count is None:
        raise KeyError(f"tuner {settings.tuner!r} has no trainable-parameter count")
    return count(fan_in, fan_out, settings)


# -- what a job can't do --------------------------------------------------------------------------

def choice_problems(job: TrainJob) -> list[tuple[str, str]]:
    """(field, problem) for each thing the job asks of a method that can't do it, so the
    choice is refused where it is made, not deep in a worker."""
    if job.lora.tuner not in tuner_names():
        return [("lora.tuner", f"must be one of {', '.join(tuner_names())}, got {job.lora.tuner!r}")]
    records = in_use(job)
    own, tr = records[0], job.training
    problems: list[tuple[str, str]] = []
    quantization = job.model.quantization
    for method in records:
        place = "model.quantization" if method is own else _first_field(method)
        if method.tuner != own.name and "model" not in method.sets:  # a loading is judged by the tuner
            problems.append((place, f"{method.name} is a {tuner(method.tuner).label} variant: it can't be used "
                                    f"with lora.tuner {own.name!r}"))
        if quantization not in method.quantization:
            note = method.quantization_note or f"has no {quantization} layers in peft"
            problems.append((place, f"{method.name} {note}; set model.quantization to "
                                    f"{' or '.join(method.quantization)}"))
        if job.distributed.strategy == "fsdp" and method.fsdp_note:
            problems.append(("distributed.strategy", f"fsdp can't train {method.name}: {method.fsdp_note}; use ddp"))
    for flag, able, what in (("compile", own.compiles, "torch.compile"), ("cuda_graphs", own.cuda_graphs,
                                                                           "CUDA graphs")):
        if getattr(tr, flag) == "on" and not able:
            problems.append((f"training.{flag}", f"{what} was never checked with {own.label} layers; use auto or "
                                                 "off (auto leaves it off for them)"))
    if tr.resume_from and not own.resumes:
        problems.append(("training.resume_from", f"{own.label} runs can't resume from a checkpoint (peft can't "
                                                 "reload one saved mid-run); keep training its saved adapter with "
                                                 "lora.continue_from instead"))
    if job.output.save_merged and not own.exports:
        problems.append(("output.save_merged", f"{own.label} adapters can't be merged into the base"))
    return problems


def _first_field(method: Method) -> str:
    section, values = next(iter(method.sets.items()))
    return f"{section}.{next(iter(values))}"


def _discover() -> None:
    """Import every module of this package: each registers its method."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    ordered = sorted(METHODS.values(), key=lambda m: (m.order, m.name))
    METHODS.clear()
    METHODS.update((m.name, m) for m in ordered)


_discover()
