"""Turn checked examples into token ids and labels, ready for the Trainer.

Chats are rendered through the model's chat template one turn at a time, so the
tokens of each assistant reply are known exactly and only they count toward the
loss (``train_on="responses"``); everything else is labelled -100.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
from transformers import DataCollatorForSeq2Seq, DataCollatorWithFlattening

from studio.core.chat_segments import FALLBACK_TOOLS_NOTE, TemplateSupport, example_segments
from studio.core.datasets import Example

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    full_length: int = 0  # tokens before truncation (more than len(input_ids) when cut)


def encode_example(example: Example, tokenizer, max_length: int, train_on: str = "responses") -> Encoded:
    """Token ids and labels for one example, truncated to ``max_length``."""
    return encode_examples([example], tokenizer, max_length, train_on)[0][0]


@dataclass(frozen=True)
class Chunking:
    """How raw text longer than max_length is kept: split into blocks (``overlap`` tokens
    of context repeated from the block before, not trained twice), or cut."""

    enabled: bool = False
    overlap: int = 0


def encode_examples(examples: list[Example], tokenizer, max_length: int, train_on: str = "responses",
                    chunking: Chunking = Chunking()) -> list[list[Encoded]]:
    """Token ids and labels for each example (one Encoded, or several blocks of raw text when
    chunking): every segment of every example tokenized in one call (the Rust tokenizer's
    batch, on every core), not one call a segment."""
    segmented = [_segments(example, tokenizer) for example in examples]
    texts = [text for segments in segmented for text, _trained in segments]
    pieces = iter(tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else [])
    out = []
    for example, segments in zip(examples, segmented, strict=True):
        ids: list[int] = []
        labels: list[int] = []
        for _text, trained in segments:
            piece = next(pieces)
            ids.extend(piece)
            labels.extend(piece if trained or train_on == "all" else [IGNORE] * len(piece))
        if chunking.enabled and example.kind == "text" and len(ids) > max_length:
            out.append(_blocks(ids, labels, max_length, chunking.overlap))
        else:
            out.append([Encoded(ids[:max_length], labels[:max_length], len(ids))])
    return out


def _blocks(ids: list[int], labels: list[int], length: int, overlap: int) -> list[Encoded]:
    blocks = []
    stride = length - overlap
    for start in range(0, len(ids) - overlap if len(ids) > length else 1, stride):
        block_labels = labels[start:start + length]
        if start and overlap:
            block_labels = [IGNORE] * overlap + block_labels[overlap:]
        blocks.append(Encoded(ids[start:start + length], block_labels, min(length, len(ids) - start)))
    return blocks


def renderer(tokenizer) -> Callable[..., str]:
    """The tokenizer's chat template as chat_segments renders with it (text, not ids)."""
    def render(messages: list[dict[str, Any]], generation_prompt: bool, tools: list | None = None) -> str:
        return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                             add_generation_prompt=generation_prompt)

    return render


def _segments(example: Example, tokenizer) -> list[tuple[str, bool]]:
    return example_segments(example, renderer(tokenizer), tokenizer.eos_token or "", template_text(tokenizer))


def template_text(tokenizer) -> str:
    """The chat template's text (every named template's, when a model ships several)."""
    template = getattr(tokenizer, "chat_template", None) or ""
    return "\n".join(template.values()) if isinstance(template, dict) else template


def rendering_notes(examples: list[Example], tokenizer) -> list[str]:
    """What the data needs that the model's chat template can't render, and how it is written instead."""
    support = TemplateSupport.of(template_text(tokenizer))
    notes = []
    if not support.tools and any(e.uses_tools for e in examples):
        notes.append(f"{sum(e.uses_tools for e in examples)} example(s) use tools: {FALLBACK_TOOLS_NOTE}")
    if not support.reasoning and any(m.reasoning for e in examples for m in e.messages):
        notes.append("the model's chat template has no reasoning field, so reasoning is written before each "
                     "answer as <think>...</think>")
    return notes


@dataclass
class PreparedData:
    train: datasets.Dataset
    eval: datasets.Dataset | None
    dropped: int  # examples with no trainable token left after truncation
    train_tokens: int
    truncated: int = 0  # training examples cut at max_length
    cut_tokens: int = 0  # tokens those cuts lost
    chunked: int = 0  # raw-text examples split into max_length blocks instead


def prepare(train: list[Example], evaluation: list[Example], tokenizer, max_length: int,
            train_on: str, chunking: Chunking = Chunking()) -> PreparedData:
    """Tokenize both splits with ``datasets.Dataset.map`` (kept in memory)."""
    dropped = 0
    cuts = {"truncated": 0, "cut_tokens": 0, "chunked": 0}

    def to_dataset(examples: list[Example], count: bool) -> datasets.Dataset | None:
        nonlocal dropped
        if not examples:
            return None
        raw = datasets.Dataset.from_dict({"example": [json.dumps(e.to_dict()) for e in examples]})

        def encode(rows: dict[str, list[Any]]) -> dict[str, list[Any]]:
            encoded = encode_examples([Example.from_dict(json.loads(row)) for row in rows["example"]], tokenizer,
                                      max_length, train_on, chunking)
            blocks = [block for pieces in encoded for block in pieces]
            return {"input_ids": [b.input_ids for b in blocks], "labels": [b.labels for b in blocks],
                    "full_length": [b.full_length for b in blocks], "blocks": [len(p) for p in encoded for _ in p]}

        mapped = raw.map(encode, batched=True, batch_size=1000, remove_columns=["example"], keep_in_memory=True)
        if count:
            for full, blocks in zip(mapped["full_length"], mapped["blocks"], strict=True):
                if blocks > 1:
                    cuts["chunked"] += 1 / blocks
                elif full > max_length:
                    cuts["truncated"] += 1
                    cuts["cut_tokens"] += full - max_length
        mapped = mapped.remove_columns(["full_length", "blocks"])
        kept = mapped.filter(lambda row: any(label != IGNORE for label in row["labels"]), keep_in_memory=True)
        dropped += len(mapped) - len(kept)
        return kept

    train_ds = to_dataset(train, True)
    if train_ds is None or len(train_ds) == 0:
        raise ValueError("no training example has a token to learn from after truncation; "
                         "raise training.max_length or check the dataset")
    eval_ds = to_dataset(evaluation, False)
    tokens = sum(len(ids) for ids in train_ds["input_ids"])
    return PreparedData(train_ds, eval_ds if eval_ds is not None and len(eval_ds) else None, dropped, tokens,
                        truncated=cuts["truncated"], cut_tokens=cuts["cut_tokens"], chunked=round(cuts["chunked"]))


def truncation_note(prepared: PreparedData, examples: int, max_length: int) -> str | None:
    """Said before training: how much of the data max_length cuts off, and what to do."""
    if not prepared.truncated:
        return None
    return (f"{prepared.truncated} of {examples} training examples ({prepared.truncated / max(examples, 1):.0%}) "
            f"are longer than max_length {max_length} and were cut, losing {prepared.cut_tokens:,} tokens; raise "
            "training.max_length, or for raw text turn dataset.chunk_text on to train every block")


def collator(tokenizer, packing: bool, boundaries: bool = False, bucketed: bool = False):
    """Padding-free flattening when packing (position ids restart per example), else padding.

    ``boundaries``: packed rows also carry their sequences' starts (engine.varlen_attention);
    ``bucketed``: their lengths come from ``bucket_length``'s ladder (engine.step_graphs)."""
    if packing:
        return PackedCollator(tokenizer.pad_token_id or 0, boundaries=boundaries, bucketed=bucketed)
    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE, pad_to_multiple_of=8)


def bucket_length(tokens: int) -> int:
    """The shortest row of the ladder 64, 128, 192, 256, 320, 448, 576, 768, 960, 1216, ...
    (each ~1.25x the last, in multiples of 64) longer than ``tokens``: a packed row padded
    to it always ends in a filler sequence, and a job's rows come in few lengths, each one
    CUDA graph (engine.step_graphs), for at most ~25% filler."""
    length = 64
    while length <= tokens:
        length = max(length + 64, -(-length * 5 // 256) * 64)  # 1.25x, rounded up to 64
    return length


class PackedCollator:
    """DataCollatorWithFlattening, its row rounded up to a multiple of 8 tokens (or, with
    ``bucketed``, to ``bucket_length``'s ladder).

    The few filler tokens form their own sequence (position ids restart at 0, labels
    -100), so they attend to nothing real and count toward no loss. A row length that
    is a multiple of 8 keeps the fused attention kernels' alignment, and with it one
    compiled graph for every length.

    ``boundaries`` adds transformers' flash-attention keywords: ``cu_seq_lens_q``/``_k``
    (each sequence's start, then the row's end) and ``max_length_q``/``_k``."""

    def __init__(self, pad_id: int, multiple: int = 8, boundaries: bool = False, bucketed: bool = False):
        self.flatten = DataCollatorWithFlattening()
        self.pad_id, self.multiple, self.boundaries, self.bucketed = pad_id, multiple, boundaries, bucketed

    def __call__(self, features):
        import torch

        batch = self.flatten(features)
        length = batch["input_ids"].shape[1]
        extra = bucket_length(length) - length if self.bucketed else -length % self.multiple
        if extra:
            fill = {"input_ids": torch.full((1, extra), self.pad_id), "labels": torch.full((1, extra), IGNORE),
                    "position_ids": torch.arange(extra)[None]}
            for key, tail in fill.items():
                if key in batch:
                    batch[key] = torch.cat([batch[key], tail.to(batch[key].dtype)], dim=1)
        if self.boundaries:
            batch.update(sequence_boundaries(batch["position_ids"][0]))
        return batch


class CountingCollator:
    """A collator that notes each batch's real tokens, on the CPU, as it builds it.

    The Trainer's own count (``include_num_input_tokens_seen``) sums a tensor on the
    GPU and reads it back: a host sync every micro-batch. The rows a collator is handed
    are still unpadded, so their lengths are exactly the real tokens; the padding
    (DataCollatorForSeq2Seq) and a packed row's filler sequence (PackedCollator) come
    after. Counts wait in ``pending``, oldest first, until the batch is trained
    (``take``): the dataloader builds one batch ahead, and eval batches pass through
    the same collator (``forget_after``). Needs ``dataloader_num_workers=0``: a
    worker process would keep its counts to itself."""

    def __init__(self, inner):
        self.inner = inner
        self.pending: deque[int] = deque()

    def __call__(self, features):
        self.pending.append(sum(len(f["input_ids"]) for f in features))
        return self.inner(features)

    def take(self) -> int:
        """The real tokens of the oldest batch not yet trained."""
        return self.pending.popleft() if self.pending else 0

    def forget_after(self, kept: int) -> None:
        """Drop every count but the oldest ``kept`` (batches built for an evaluation)."""
        while len(self.pending) > kept:
            self.pending.pop()

    def __getattr__(self, name: str):
        if name == "inner":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)  # e.g. the Trainer saves ``data_collator.tokenizer``


def sequence_boundaries(positions) -> dict[str, Any]:
    """Where each packed sequence starts (its position id is 0), for flash-attention varlen."""
    from studio.engine.varlen_attention import row_boundaries

    starts, longest = row_boundaries(positions, 1, len(positions), positions.device)
    return {"cu_seq_lens_q": starts, "cu_seq_lens_k": starts, "max_length_q": longest, "max_length_k": longest}
