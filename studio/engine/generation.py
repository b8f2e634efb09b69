"""Answer prompts with the base model and each adapter, loaded once.

Adapters are attached to one copy of the base with peft's ``load_adapter`` and
switched with ``set_adapter``; the base answers with the adapters disabled, so
comparing N adapters costs one model load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import peft
import torch

from studio.core import protocol
from studio.core.jobs import GenerateJob, SamplingSettings
from studio.engine.training import load_base

Emit = Callable[[protocol.Event], None]


def answer(model, tokenizer, prompt: str, sampling: SamplingSettings) -> str:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"].to(model.device)
    greedy = sampling.temperature <= 0
    kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "do_sample": not greedy,
                              "pad_token_id": tokenizer.pad_token_id}
    if not greedy:
        torch.manual_seed(sampling.seed)
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or None)
    with torch.no_grad():
        out = model.generate(input_ids=ids, **kwargs)
    return tokenizer.decode(out[0][ids.shape[1]:], skip_special_tokens=True).strip()


def run_generation(job: GenerateJob, emit: Emit) -> dict[str, Any]:
    base = load_base(job.model, emit)
    model = base.model
    names = []
    for index, adapter in enumerate(job.adapters):
        name = f"adapter{index}"
        if index == 0:
            model = peft.PeftModel.from_pretrained(model, adapter, adapter_name=name)
        else:
            model.load_adapter(adapter, adapter_name=name)
        names.append(name)
    model.eval()
    emit(protocol.Phase("generating", done=0, total=len(job.prompts) * (1 + len(names))))
    answers: list[dict[str, str]] = []
    labels = ["base"] + [str(Path(a)) for a in job.adapters]
    for label, name in zip(labels, [None, *names], strict=True):
        for prompt in job.prompts:
            if name is None and names:
                with model.disable_adapter():
                    text = answer(model, base.tokenizer, prompt, job.sampling)
            else:
                if name is not None:
                    model.set_adapter(name)
                text = answer(model, base.tokenizer, prompt, job.sampling)
            emit(protocol.Sample(step=0, prompt=prompt, text=text, adapter=label))
            answers.append({"adapter": label, "prompt": prompt, "text": text})
    return {"answers": answers}
