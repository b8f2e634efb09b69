"""Peak GPU memory of a LoRA/QLoRA training job, with its breakdown, before it starts.

Pure Python (no torch): the GUI redraws it on every keystroke. The model is physical
where the physics is exact and measured where it is not:

* weights, adapter, gradients and optimizer states are counted from the config
  (bytes per parameter; NF4 with double quantization is 0.5 + 1/64 + 4/16384);
* activations per decoder layer follow what autograd keeps for a frozen bf16 Llama
  layer with LoRA: fp32 RMSNorm inputs, q/k/v/out for SDPA, the SwiGLU inputs, and
  per adapted layer what its method's record says (LoRA: the dropout mask and the bf16
  copy of its input; another tuner's own terms, core.vram_methods; see ``layer_bytes``);
  with gradient checkpointing each layer keeps only its bf16 input, and one layer is
  recomputed at a time;
* the logits/loss term, the recompute share, the remaining per-token buffers, the
  allocator's fragmentation and the CUDA context come from a least-squares fit to the
  22 configurations measured on an H100 (docs/vram_measurements.jsonl;
  docs/vram_validation.md shows every estimate against its measurement).

The peak is the largest batch: batch x max_length tokens, with or without packing. A preference
stage (DPO, ORPO, SimPO, KTO) trains chosen and rejected replies together, scores them its own way
and may run a reference pass: core.vram_preference says how, and the breakdown names those parts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from studio.core import vram_families, vram_methods, vram_preference
from studio.core.jobs import LoraSettings, TrainJob
from studio.core.presets import (
    count_adapter_parameters,
    linear_shapes,
    num_layers,
    resolve_target_modules,
)

GIB = 2**30
Strategy = Literal["single", "ddp", "fsdp"]

# Fitted to docs/vram_measurements.jsonl by scripts/vram_report.py (which prints them
# again, so a re-measurement can update them). "Allocated" is what tensors hold;
# "reserved" adds what PyTorch's caching allocator keeps around them.
LOGITS_BYTES = 10.72  # per token x vocabulary entry: bf16 logits, fp32 upcast, log-softmax, grads
LOGITS_BYTES_RESERVED = 13.41
RECOMPUTE_SHARE = 0.288  # of one layer's activations alive while checkpointing recomputes it
RECOMPUTE_SHARE_RESERVED = 0.391
OTHER_BYTES = 46.84  # per token x hidden: embeddings, final norm, hidden-state gradients
OTHER_BYTES_RESERVED = 87.50
# A torch.compile'd decoder layer keeps this share of what the eager layer keeps (inductor
# recomputes the cheap pointwise work instead of saving it). Measured on an H200
# (docs/gpu_runs/bench_h200_first.jsonl): 0.78 on the 1B without checkpointing; 0.69 on the 8B,
# where 6 layers left out of checkpointing added 7.79 GiB and the eager model says 11.34. The
# larger one, so that the estimate errs high.
COMPILED_LAYER_SHARE = 0.78
# CUDA graphs of the steps (engine.step_graphs) keep the captured steps' activations and logits
# in their own pool, beside the caching allocator's blocks for the eager steps, and their rows
# are padded up to ~25% longer (the length ladder). Measured on an H200, the graphed runs' peak
# less this estimate without graphs, as a share of its (activations + logits): 1,000 chat rows
# all cut at max length (1B, docs/gpu_runs/session5/jobs.jsonl) 1.39; 1,000 alpaca rows, whose
# steps are shorter (docs/gpu_runs/graphs/): 1B 0.70, 8B 0.53, 8B QLoRA 0.50. The largest, so
# the estimate errs high (by up to half for short rows: it knows only the longest a step can be).
GRAPH_POOL_SHARE = 1.39
CUDA_CONTEXT_BYTES = int(0.74 * GIB)  # outside the allocator: context, kernels, cuBLAS (H100, CUDA 13)
# The share of a card that partial checkpointing plans to fill when no memory limit is set: the
# estimate's worst error was 3.6% (docs/vram_validation.md), and other programs may start meanwhile.
AUTO_BUDGET_SHARE = 0.9

NF4_BYTES_PER_PARAM = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4-bit values + 8-bit absmax per 64 + fp32 per 256 blocks
INT8_BYTES_PER_PARAM = 1.0
OPTIMIZER_BYTES = {"adamw_torch": 8, "adamw_8bit": 2, "paged_adamw_8bit": 2}
# Families whose loss the engine's GPU fast path fuses (Liger): no logits tensor is built.
FUSED_LOSS_TYPES = frozenset({"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text",
                              "phi3", "granite", "olmo2"})

# Before a run the estimate counts the logits: the fast path fuses the loss only for padded
# (fixed-length) batches, which depends on the data. After a run the engine records the
# estimate for the path it really took next to the measured peak.


@dataclass(frozen=True)
class Part:
    key: str
    label: str
    bytes: int
    note: str


@dataclass(frozen=True)
class Estimate:
    parts: tuple[Part, ...]
    notes: tuple[str, ...] = ()
    gpus: int = 1
    strategy: Strategy = "single"

    @property
    def total(self) -> int:
        return sum(p.bytes for p in self.parts)

    def part(self, key: str) -> Part:
        return next(p for p in self.parts if p.key == key)

    def as_dict(self) -> dict[str, Any]:
        return {"total_bytes": self.total, "gpus": self.gpus, "strategy": self.strategy,
                "parts": {p.key: p.bytes for p in self.parts}, "notes": list(self.notes)}


class EstimateError(ValueError):
    """The model's config lacks what the estimate needs (e.g. an unknown architecture)."""


@dataclass(frozen=True)
class _Dims:
    hidden: int
    kv: int  # width of the key (and value) projection
    inter: int
    vocab: int
    layers: int


def _dims(config: dict[str, Any], shapes: dict[str, tuple[int, int]]) -> _Dims:
    widths = vram_families.widths(config, shapes)  # the hidden and MLP widths, read one way
    vocab = int(config.get("vocab_size") or 0)
    if not widths.hidden or not vocab:
        raise EstimateError("the model's config has no hidden_size or vocab_size")
    kv = shapes["k_proj"][1] if "k_proj" in shapes else widths.hidden
    return _Dims(widths.hidden, kv, widths.inter, vocab, num_layers(config))


def _parameters(config: dict[str, Any], shapes: dict[str, tuple[int, int]], d: _Dims,
                num_parameters: int | None) -> tuple[int, int, int]:
    """(parameters in the blocks' linear layers, a mixture's experts, all other parameters)."""
    linear = d.layers * sum(fan_in * fan_out for fan_in, fan_out in shapes.values())
    experts = vram_families.expert_parameters(config)
    tied = config.get("tie_word_embeddings", True)
    other = d.vocab * d.hidden * (1 if tied else 2) + 2 * d.layers * d.hidden + d.hidden
    if num_parameters and num_parameters > linear + experts + other:  # biases, other experts: trust the count
        linear = num_parameters - experts - other
    return linear, experts, other


def layer_bytes(config: dict[str, Any], shapes: dict[str, tuple[int, int]], modules: list[str], dropout: float,
                lora: LoraSettings | bool = False, quantization: str = "none", seq_len: int = 0) -> int:
    """Bytes autograd keeps per token for one decoder layer (frozen bf16 base, ``lora``'s adapter on
    ``modules``; a bool: plain LoRA with or without DoRA, as scripts/vram_report.py asks).

    The base layer's terms are its family's (core.vram_families; for a Llama: two RMSNorm inputs
    in fp32, SDPA's q, k, v and output, the SwiGLU's gate, activation and up outputs). Each adapted
    layer keeps what its method's records say per token (core.vram_methods): LoRA the bf16 copy of
    its input for lora_A (2 bytes) and, with dropout, the mask (1 byte); DoRA 6 bytes per output
    feature more.
    """
    settings = lora if isinstance(lora, LoraSettings) else LoraSettings(use_dora=lora)
    return vram_families.layer_bytes(config, shapes, modules, dropout, settings, quantization, seq_len)


def estimate(job: TrainJob, config: dict[str, Any], *, num_parameters: int | None = None, gpus: int = 1,
             strategy: Strategy = "single", fused_loss: bool = False, checkpointed_layers: int | None = None,
             compiled: bool = False, graphs: bool = False) -> Estimate:
    """Peak memory per GPU for ``job`` on the model described by ``config`` (config.json).

    ``checkpointed_layers``: how many decoder layers recompute in the backward pass (all of
    them with gradient checkpointing unless told); ``compiled``: the layers run torch.compile'd;
    ``graphs``: the steps are CUDA graphs (core.step_time.graphs_wanted), whose pool is extra."""
    shapes = linear_shapes(config)
    if shapes is None:
        raise EstimateError(f"no layer shapes known for model_type {config.get('model_type')!r}")
    d = _dims(config, shapes)
    lora, tr = job.lora, job.training
    stage = vram_preference.stage_memory(job)
    if stage is not None:  # TRL's trainer runs plainly: none of the GPU fast path's savings or costs
        fused_loss = compiled = graphs = False
        checkpointed_layers = None
    dropout = 0.0 if stage is not None and stage.dropout_off else lora.dropout  # TRL's preference trainers
    modules = resolve_target_modules(config, lora.target_modules)
    if modules == ["all-linear"]:
        modules = list(shapes)
    trainable = count_adapter_parameters(config, lora)
    if trainable is None:
        raise EstimateError(f"target modules {lora.target_modules} are unknown for {config.get('model_type')}")
    notes: list[str] = []
    precision_bytes = 4 if tr.precision == "fp32" else 2
    scale = precision_bytes / 2  # activations were measured in bf16

    linear, experts, other = _parameters(config, shapes, d, num_parameters)
    quant = job.model.quantization
    per_linear = {"4bit": NF4_BYTES_PER_PARAM, "8bit": INT8_BYTES_PER_PARAM}.get(quant, precision_bytes)
    # bitsandbytes quantizes linear layers; transformers 5 keeps a mixture's experts as 3D parameters
    weights: float = linear * per_linear + (experts + other) * precision_bytes
    if experts and quant != "none":
        notes.append(f"The {experts / 1e9:.1f}B expert parameters stay in {precision_bytes * 8}-bit: "
                     "bitsandbytes quantizes linear layers only, and transformers keeps experts as 3D weights.")
    if quant == "8bit":
        notes.append("8-bit base weights are counted at 1 byte per parameter; not measured on a GPU yet.")

    optimizer_bytes = OPTIMIZER_BYTES.get(tr.optimizer, 8)
    tokens = tr.batch_size * tr.max_length * (stage.sequences if stage else 1)
    method = vram_methods.adapter_memory(lora, shapes, modules, dropout, quant)
    # layer_bytes, its method's terms read once
    per_layer = vram_families.base_layer_bytes(config, shapes, tr.max_length) + int(method.per_token)
    kept_layer = per_layer * (COMPILED_LAYER_SHARE if compiled else 1.0)
    checkpointed = 0 if not tr.gradient_checkpointing else d.layers if checkpointed_layers is None else max(
        0, min(d.layers, checkpointed_layers))
    # A checkpointed layer keeps its bf16 input (on the CPU when offloaded); the others keep everything.
    inputs = 0 if tr.offload_activations else tokens * checkpointed * 2 * d.hidden
    # What a method's forward keeps whatever the batch (LoHa's built update), for every layer that keeps
    # its activations and the one being recomputed; and, once, its largest layer's transient.
    held = method.per_layer * (d.layers - checkpointed + (1 if checkpointed else 0)) + method.working
    activations = activations_reserved = inputs + tokens * (d.layers - checkpointed) * kept_layer + held
    if checkpointed:  # one layer at a time is recomputed
        activations += RECOMPUTE_SHARE * tokens * per_layer
        activations_reserved += RECOMPUTE_SHARE_RESERVED * tokens * per_layer
    activations += OTHER_BYTES * tokens * d.hidden
    activations_reserved += OTHER_BYTES_RESERVED * tokens * d.hidden
    # soft-capped logits (Gemma 2) keep their tanh beside the fp32 logits the fit saw
    extra_head = vram_families.head_bytes_per_entry(config) - vram_families.LOGIT_BYTES
    logits = 0.0 if fused_loss else (LOGITS_BYTES + extra_head) * tokens * d.vocab
    logits_reserved = 0.0 if fused_loss else (LOGITS_BYTES_RESERVED + extra_head) * tokens * d.vocab
    reference_tokens = tr.batch_size * tr.max_length * stage.reference_sequences if stage else 0
    reference_working = vram_preference.reference_pass_bytes(reference_tokens, d.hidden, d.inter)
    # With checkpointing the peak comes later, while the backward recomputes a layer: the reference
    # pass's working set (before it, beside the same kept activations) adds only what exceeds that room.
    recompute_room = RECOMPUTE_SHARE * tokens * per_layer if checkpointed else 0.0
    reference = max(0.0, reference_working - recompute_room)
    if stage is not None:
        if stage.fused_head:  # one tile, and no loss-sized blocks for the allocator to keep beside them
            logits = logits_reserved = vram_preference.head_tile_bytes(tokens)
            activations_reserved -= (OTHER_BYTES_RESERVED - OTHER_BYTES) * tokens * d.hidden
        else:
            logits, logits_reserved = (per_entry * tokens * stage.logits_share * d.vocab
                                       for per_entry in stage.logits_bytes)
        notes.append(stage.note())
    if vram_families.eager_attention(config):
        notes.append("Eager attention (this transformers runs the family no other way): every head keeps its "
                     "scores, which grow with the square of max length.")
    if scale != 1:
        notes.append("fp32 training: activations are scaled from the bf16 measurements.")
    if dropout == 0 and stage is None:
        notes.append("dropout 0: LoRA layers keep no mask (from the layer model; measured with 0.05).")

    weights += method.shared  # frozen, beside the base (VeRA's shared projections)
    adapter: float = trainable * 4  # peft keeps adapter weights in fp32
    grads: float = adapter
    states: float = trainable * (optimizer_bytes + method.per_trainable)
    if not method.measured:
        notes.append(f"{lora.tuner}: its own memory terms are read from peft's code (core.methods), not "
                     "measured on a GPU yet.")
    gpus = max(1, gpus)
    whole_weights, loading = weights, 0.0
    if gpus > 1 and strategy == "fsdp":
        largest_layer = (sum(i * o for i, o in shapes.values()) * per_linear
                         + experts / d.layers * precision_bytes)
        weights = weights / gpus + 2 * largest_layer  # the shard, plus a gathered layer and the next one
        adapter, grads, states = adapter / gpus, grads / gpus, states / gpus
        # Each GPU loads the whole model, then flattens it into its shard: measured on 2 H100s
        # (70B-shaped QLoRA, docs/multi-gpu.md) the allocator peaked at whole + shard then.
        loading = whole_weights + weights - 2 * largest_layer
        notes.append("FSDP: weights and adapter state sharded over the GPUs; each GPU first loads the whole "
                     "model (measured on one 70B-shaped QLoRA run).")
    elif gpus > 1:
        strategy = "ddp"
        grads *= 2  # DDP's flat gradient buckets beside the gradients
        notes.append("DDP: every GPU holds the whole model and batch; not measured yet.")
    else:
        strategy = "single"

    parts = [
        Part("weights", "Base weights", int(weights),
             {"4bit": "NF4, double quantization", "8bit": "int8"}.get(quant, f"{precision_bytes} bytes/parameter")
             + (f"; its {experts / 1e9:.1f}B experts {precision_bytes} bytes/parameter" if experts and quant != "none"
                else "")
             + (f", {lora.tuner}'s shared frozen projections {format_bytes(method.shared)}" if method.shared else "")),
        Part("adapter", "Adapter weights", int(adapter), f"{trainable:,} parameters in fp32"),
        Part("gradients", "Gradients", int(grads), "fp32, adapter only"),
        Part("optimizer", "Optimizer states", int(states), f"{tr.optimizer}: {optimizer_bytes} bytes/parameter"
             + (f", {method.per_trainable:g} more for {lora.tuner}'s own" if method.per_trainable else "")),
        Part("activations", "Activations", int(activations * scale),
             (stage.activations_note(tokens) if stage else f"{tokens:,} tokens/step")
             + _checkpoint_note(checkpointed, d.layers, tr.offload_activations)),
        Part("logits", "Logits and loss", int(logits * scale),
             stage.logits_note(tokens, d.vocab) if stage else
             "fused loss: none kept" if fused_loss else f"{tokens:,} x {d.vocab:,} vocabulary"),
        Part("allocator", "Allocator overhead",
             int((activations_reserved - activations + logits_reserved - logits) * scale),
             "cached blocks and fragmentation"),
        Part("context", "CUDA context", CUDA_CONTEXT_BYTES, "driver, kernels and library handles"),
    ]
    if stage is not None and reference_tokens:  # beside the adapter, and after the logits
        keys = [part.key for part in parts]
        parts.insert(keys.index("logits") + 1, Part(
            "reference", "Reference pass (no gradients)", int(reference * scale),
            stage.reference_note(reference_tokens, format_bytes(reference_working * scale), reference, reference_working)))
        parts.insert(keys.index("adapter") + 1, Part(
            "reference_adapter", "Reference adapter", int(adapter),
            "the adapter as it starts, frozen (TRL's 'ref' copy): no gradients or optimizer states"))
    if stage is not None and stage.stage == "grpo":
        # Before the training pass, not beside it: what exceeds that pass counts, and at least the cache
        # itself, whose freed blocks the caching allocator kept around the training pass on the H200.
        answers, cache, generating = vram_preference.generation_bytes(job, d.hidden, d.kv, d.layers, d.vocab)
        training_pass = activations_reserved + logits_reserved + reference
        parts.append(Part("generation", "Generation (KV cache)", int(max(cache, generating - training_pass)),
                          f"{answers:,} answers at once, a cache over {tr.max_length:,} tokens each "
                          f"({format_bytes(generating)} while generating, before the training pass)"))
    if graphs:
        parts.append(Part("graphs", "CUDA graphs' pool", int(GRAPH_POOL_SHARE * (activations + logits) * scale),
                          "the captured steps' activations, beside the eager steps'"))
    training_peak = sum(p.bytes for p in parts)
    if loading + CUDA_CONTEXT_BYTES > training_peak:
        parts.append(Part("loading", "Loading before sharding", int(loading + CUDA_CONTEXT_BYTES - training_peak),
                          "the whole model on each GPU until FSDP shards it"))
    return Estimate(tuple(parts), tuple(notes), gpus, strategy)


def _checkpoint_note(checkpointed: int, layers: int, offloaded: bool) -> str:
    if not checkpointed:
        return ""
    which = "checkpointed" if checkpointed == layers else f"{checkpointed} of {layers} layers checkpointed"
    return f", {which}" + (", inputs on the CPU" if offloaded else "")


def budget_bytes(job: TrainJob, capacity: int) -> int:
    """What a run plans to fill of a card of ``capacity``: the job's memory limit, else
    ``AUTO_BUDGET_SHARE`` of the card (engine.fast_path measures what is free instead)."""
    limit = job.training.memory_limit_gib
    return min(capacity, int(limit * GIB)) if limit > 0 else int(AUTO_BUDGET_SHARE * capacity)


def fits(total: int, job: TrainJob, capacity: int) -> bool:
    """The one rule for "fits": within the budget a run plans to fill (``budget_bytes``), not the
    card's last byte. 23.9 GiB of a 24 GiB card is no fit: the estimate errs by a few per cent
    (core.vram_band) and other programs hold memory on the card too."""
    return total <= budget_bytes(job, capacity)


def graphs_fit(job: TrainJob, config: dict[str, Any], budget_bytes: int, **options: Any) -> bool:
    """Whether CUDA graphs' pool fits ``budget_bytes`` beside the job with nothing checkpointed
    (graphs need every layer kept); where it does not, the engine runs the steps eagerly. A preference
    stage's steps are never graphs."""
    if vram_preference.stage_memory(job) is not None:
        return False
    return estimate(job, config, graphs=True, checkpointed_layers=0, **options).total <= budget_bytes


def checkpointed_layers_needed(job: TrainJob, config: dict[str, Any], budget_bytes: int, **options: Any) -> int:
    """The fewest decoder layers to checkpoint for the estimate to stay within ``budget_bytes``.

    Every layer left out of checkpointing saves its recompute (about a third of its step
    time) and costs its activations; the engine spends the memory the budget leaves on
    that. All layers when even full checkpointing does not fit (the run may still fit:
    the estimate errs high), and for a preference stage (its trainer checkpoints all or none).
    ``options`` go to ``estimate``."""
    estimate(job, config, **options)  # an unknown architecture raises EstimateError here
    layers = num_layers(config)
    if vram_preference.stage_memory(job) is not None:
        return layers if job.training.gradient_checkpointing else 0
    for k in range(layers + 1):
        if estimate(job, config, checkpointed_layers=k, **options).total <= budget_bytes:
            return k
    return layers


@dataclass(frozen=True)
class PartialCheckpointing:
    checkpointed: int
    layers: int
    estimate: Estimate

    def sentence(self) -> str:
        """What will run, once, in plain words: the checkpointing the planner takes instead of
        the job's, why, and the memory it will use (the figure to show, not the job's own)."""
        what = ("Checkpointing will be turned off: the card has room" if not self.checkpointed else
                f"Checkpointing will be kept on {self.checkpointed} of {self.layers} layers only: the card "
                "has room for the others")
        return f"{what}, and steps are faster without it — about {format_bytes(self.estimate.total)}."


def partial_checkpointing(job: TrainJob, config: dict[str, Any], capacity: int,
                          **options: Any) -> PartialCheckpointing | None:
    """What the GPU fast path will do with a checkpointed job that has room to spare on a
    card of ``capacity`` (within ``training.memory_limit_gib`` when set); None when every
    layer stays checkpointed. The estimate before a run counts the logits and eager layers:
    the run itself may fuse the loss and compile, use less, and keep even fewer checkpointed."""
    tr = job.training
    if not (tr.gradient_checkpointing and tr.fast_path) or options.get("strategy") == "fsdp" or tr.stage != "sft":
        return None
    needed = checkpointed_layers_needed(job, config, budget_bytes(job, capacity), **options)
    layers = num_layers(config)
    if needed >= layers:
        return None
    return PartialCheckpointing(needed, layers, estimate(job, config, checkpointed_layers=needed, **options))


def format_bytes(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= 0.1 * GIB else f"{n / 2**20:.0f} MiB"


# -- will it fit? ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    label: str
    edits: dict[str, Any]  # dotted job field -> new value
    estimate: Estimate
    fits: bool


def edited(job: TrainJob, edits: dict[str, Any]) -> TrainJob:
    """``job`` with a suggestion's edits (dotted job field -> value) made."""
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in edits.items():
        section, name = dotted.split(".")
        sections.setdefault(section, {})[name] = value
    return replace(job, **{s: replace(getattr(job, s), **v) for s, v in sections.items()})


def _candidates(job: TrainJob) -> list[tuple[str, dict[str, Any]]]:
    """Single changes, cheapest first: speed before memory tricks, data last."""
    tr = job.training
    out: list[tuple[str, dict[str, Any]]] = []
    if not tr.gradient_checkpointing:
        out.append(("Enable gradient checkpointing (~25% slower)", {"training.gradient_checkpointing": True}))
    batch, accum = tr.batch_size, tr.grad_accum
    smallest = 2 if tr.stage == "kto" else 1  # KTO's KL term pairs replies within a batch (TRL refuses 1)
    while batch // 2 >= smallest:
        batch, accum = batch // 2, accum * 2
        out.append((f"Batch {batch} x accumulation {accum} (same effective batch)",
                    {"training.batch_size": batch, "training.grad_accum": accum}))
    if tr.optimizer == "adamw_torch":
        out.append(("8-bit AdamW (bitsandbytes)", {"training.optimizer": "adamw_8bit"}))
    if job.model.quantization == "none":
        out.append(("QLoRA: load the base in 4-bit", {"model.quantization": "4bit"}))
    length = tr.max_length
    while length > 256:
        length //= 2
        out.append((f"Max length {length} (longer rows are truncated)", {"training.max_length": length}))
    return out


def suggest(job: TrainJob, config: dict[str, Any], capacity_bytes: int, *, limit: int = 4,
            measure: Callable[[Estimate], int] | None = None, keep: Collection[str] = (),
            **kwargs: Any) -> list[Suggestion]:
    """Changes that make the job fit ``capacity_bytes`` (by ``fits``: within the margin), cheapest
    first, each with its estimate; empty where it fits already or where nothing fits one such card
    (``lightest`` says how close it comes; core.vram_advice words it).

    Single changes are tried first; when none fits alone, they are stacked in the same
    order (checkpointing, then smaller batches, ...) until the job fits. ``measure``: what
    of an estimate must fit (default: all of it; core.memory_fit leaves out a CPU run's
    CUDA parts); ``keep``: dotted job fields no suggestion changes (bitsandbytes' on the CPU).
    """
    size = measure or (lambda found: found.total)
    if fits(size(estimate(job, config, **kwargs)), job, capacity_bytes):
        return []
    found: list[Suggestion] = []
    seen_keys: set[str] = set()
    for label, edits in _usable(job, keep):
        new = estimate(edited(job, edits), config, **kwargs)
        key = ",".join(sorted(edits))
        if fits(size(new), job, capacity_bytes) and key not in seen_keys:  # the smallest change of each kind
            found.append(Suggestion(label, edits, new, True))
            seen_keys.add(key)
    if found:
        return found[:limit]
    for stacked in _stacked(job, config, size, keep, **kwargs):
        if fits(size(stacked.estimate), job, capacity_bytes):
            return [replace(stacked, fits=True)]
    return []


def lightest(job: TrainJob, config: dict[str, Any], *, measure: Callable[[Estimate], int] | None = None,
             keep: Collection[str] = (), **kwargs: Any) -> Suggestion | None:
    """Every change that lowers the peak, stacked: the least memory this job can be made to need
    (its ``fits`` is False: the caller holds it against a card). None where no change helps."""
    size = measure or (lambda found: found.total)
    stacks = list(_stacked(job, config, size, keep, **kwargs))
    return stacks[-1] if stacks else None


def _usable(job: TrainJob, keep: Collection[str]) -> list[tuple[str, dict[str, Any]]]:
    return [(label, edits) for label, edits in _candidates(job) if not set(edits) & set(keep)]


def _stacked(job: TrainJob, config: dict[str, Any], size: Callable[[Estimate], int], keep: Collection[str],
             **kwargs: Any) -> Iterator[Suggestion]:
    """The changes stacked one kind at a time (those that lower the peak), each stack with its estimate."""
    stacked: dict[str, Any] = {}
    labels: dict[str, str] = {}  # one label per kind of change: the last batch size, not every halving
    current, current_size = job, size(estimate(job, config, **kwargs))
    for label, edits in _usable(job, keep):
        trial = edited(current, edits)
        new = estimate(trial, config, **kwargs)
        if size(new) >= current_size:
            continue
        stacked.update(edits)
        labels[",".join(sorted(edits))] = label.split(" (")[0]
        current, current_size = trial, size(new)
        yield Suggestion(" + ".join(labels.values()), dict(stacked), new, False)
