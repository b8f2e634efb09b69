"""What the preference stage tests share: a small job on the shipped pairs, the held-out rows a run
evaluated (read as the engine reads them), and replies' log-probabilities measured with plain torch
through the chat template, not with TRL's own numbers."""

from __future__ import annotations

import torch
from helpers import tiny_job

from studio.core.datasets import load_job_dataset, split_train_eval
from studio.core.datasets.stages import trained_rows
from studio.core.resources import resolve_dataset_path


def preference_job(model_dir, stage: str, steps: int = 12, **sections):
    """The tiny job on the shipped pairs (``bundled-preference``), as ``stage`` trains them."""
    sections = {"dataset": {"path": "bundled-preference", "max_rows": 64, "eval_fraction": 0.25,
                            **sections.pop("dataset", {})},
                "training": {"stage": stage, "learning_rate": 5e-3, "save_steps": 6, **sections.pop("training", {})},
                **sections}
    return tiny_job(model_dir, steps, **sections)


def held_out_rows(job) -> list:
    """The held-out rows the run evaluated: split as the engine splits them (by pair), then the stage's rows."""
    stage = job.training.stage
    loaded = load_job_dataset(job.dataset, resolve_dataset_path(job.dataset.path), stage=stage)
    _train, held_out = split_train_eval(loaded.examples[: job.dataset.max_rows], job.dataset.eval_fraction,
                                        job.training.seed)
    return trained_rows(stage, held_out)


def reply_logps(model, tokenizer, example, reply) -> torch.Tensor:
    """log p of each of the reply's tokens given the prompt, through the chat template."""
    prompt = [{"role": m.role, "content": m.content} for m in example.messages]
    whole = prompt + [{"role": m.role, "content": m.content} for m in reply]
    start = len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                              return_dict=True)["input_ids"])
    ids = torch.tensor([tokenizer.apply_chat_template(whole, tokenize=True, return_dict=True)["input_ids"]])
    with torch.no_grad():
        logps = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    targets = ids[0, 1:]
    return logps[torch.arange(len(targets)), targets][start - 1:]


def reply_logp(model, tokenizer, example, reply) -> float:
    """log p(reply | prompt), summed over the reply's tokens."""
    return float(reply_logps(model, tokenizer, example, reply).sum())
