"""Eval jobs: perplexity of the base and each adapter on a dataset, and answer quality.

Loss is the token-weighted mean over the tokens that count toward training (the
same labels and masking as training, from data_prep), so an adapter's number is
comparable with its run's eval loss. Where rows have a reference answer (the last
assistant turn, or a completion), each model also answers greedily and is scored
with ROUGE-L (the rouge-score package) and exact match (core.metrics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from studio.core import protocol
from studio.core.chat_segments import prompt_and_reply
from studio.core.datasets import Example, load_job_dataset, split_train_eval
from studio.core.jobs import EvalJob, SamplingSettings
from studio.core.metrics import exact_match
from studio.core.resources import resolve_dataset_path
from studio.engine import data_prep
from studio.engine.generation import BASE, AdapterSet, answer

Emit = Callable[[protocol.Event], None]
PROGRESS_EVENTS = 20  # "scoring" phase events per model: a live bar without flooding events.jsonl
_scorer = None


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 with rouge-score's defaults (lowercase, alphanumeric tokens, no stemming)."""
    global _scorer
    if _scorer is None:
        from rouge_score import rouge_scorer

        _scorer = rouge_scorer.RougeScorer(["rougeL"])
    return float(_scorer.score(reference, prediction)["rougeL"].fmeasure)


def prompt_and_reference(example: Example, tokenizer) -> tuple[Example, str] | None:
    """(the row up to its answer, as a prompt; the answer as the model should write it), or None
    when the row has none. The answer is its rendered text less special tokens, so a tool call
    is scored in the form training taught (the template's or the <tool_call> fallback's)."""
    if example.kind == "completion" and example.completion:
        return replace(example, completion=""), example.completion
    if example.kind != "chat" or not example.messages or example.messages[-1].role != "assistant":
        return None
    pair = prompt_and_reply(example, data_prep.renderer(tokenizer), data_prep.template_text(tokenizer))
    if pair is None:
        return None
    reference = tokenizer.decode(tokenizer(pair[1], add_special_tokens=False)["input_ids"],
                                 skip_special_tokens=True).strip()
    return replace(example, messages=example.messages[:-1]), reference


def rows_of(job: EvalJob) -> list[Example]:
    loaded = load_job_dataset(job.dataset, resolve_dataset_path(job.dataset.path))
    examples = loaded.examples[: job.dataset.max_rows] if job.dataset.max_rows else loaded.examples
    if job.split == "eval":
        held_out = split_train_eval(examples, job.dataset.eval_fraction, job.seed)[1]
        return held_out or examples
    return examples


def mean_loss(model, batches: list[dict[str, torch.Tensor]],
              progress: Callable[[int], None] = lambda _done: None) -> tuple[float, int]:
    """Token-weighted mean loss over batches, and the number of scored tokens. ``progress``
    hears how many batches are done, about PROGRESS_EVENTS times in all (and after the last)."""
    total, count = 0.0, 0
    every = max(1, math.ceil(len(batches) / PROGRESS_EVENTS))
    with torch.no_grad():
        for done, batch in enumerate(batches, start=1):
            batch = {k: v.to(model.device) for k, v in batch.items()}
            tokens = int((batch["labels"][:, 1:] != data_prep.IGNORE).sum())
            if tokens:
                total += float(model(**batch).loss) * tokens
                count += tokens
            if done % every == 0 or done == len(batches):
                progress(done)
    return (total / count if count else float("nan")), count


def run_eval(job: EvalJob, emit: Emit) -> dict[str, Any]:
    adapters = AdapterSet.load(job.model, job.adapters, emit)
    emit(protocol.Phase("preparing_data", detail=job.dataset.path))
    rows = rows_of(job)
    prepared = data_prep.prepare(rows, [], adapters.tokenizer, job.max_length, job.dataset.train_on)
    collate = data_prep.collator(adapters.tokenizer, packing=False)
    features = [{k: prepared.train[i][k] for k in ("input_ids", "labels")}
                for i in range(len(prepared.train))]
    batches = [collate(features[i:i + job.batch_size]) for i in range(0, len(features), job.batch_size)]
    references = [pair for pair in (prompt_and_reference(e, adapters.tokenizer) for e in rows)
                  if pair and pair[1]][: job.generate_rows]
    greedy = SamplingSettings(max_new_tokens=job.max_new_tokens, temperature=0.0)
    labels = [BASE, *adapters.labels]
    results = []
    for index, label in enumerate(labels):
        # Progress, model by model ("evaluating" n of all), then within one: the loss over the
        # batches ("scoring") and the answers to score ("answering").
        emit(protocol.Phase("evaluating", done=index, total=len(labels), detail=label))
        with adapters.use(label) as model:
            loss, tokens = mean_loss(model, batches, lambda done, label=label: emit(
                protocol.Phase("scoring", done=done, total=len(batches), detail=label)))
        scores = {"rouge_l": None, "exact_match": None}
        if references:
            emit(protocol.Phase("answering", done=0, total=len(references), detail=label))
            answers = []
            for n, (prompt, _ref) in enumerate(references):
                answers.append(answer(adapters, label, prompt, greedy, emit, request=f"eval-{n}"))
                emit(protocol.Phase("answering", done=n + 1, total=len(references), detail=label))
            scores = {"rouge_l": sum(rouge_l(a.text, ref) for a, (_m, ref) in zip(answers, references, strict=True))
                      / len(references),
                      "exact_match": sum(exact_match(a.text, ref) for a, (_m, ref) in
                                         zip(answers, references, strict=True)) / len(references)}
        results.append({"adapter": label, "eval_loss": loss, "perplexity": math.exp(min(loss, 50.0)),
                        "tokens": tokens, "rows": len(rows), "answered": len(references), **scores})
    emit(protocol.Phase("evaluating", done=len(labels), total=len(labels)))
    return {"results": results, "dataset": job.dataset.path, "split": job.split}
