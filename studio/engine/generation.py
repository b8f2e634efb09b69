"""Answer prompts with the base model and several adapters, loaded once, streaming.

Adapters are attached to one copy of the base with peft's ``load_adapter`` and
switched with ``set_adapter``; the base answers inside ``disable_adapter()``, so
comparing N adapters costs one model load. Text is streamed as ``token`` events as
the tokens are produced (transformers' TextStreamer), then each answer ends with an
``answer`` event. ``run_serve`` keeps all of it loaded and answers requests that
arrive as ``generate`` commands until it is idle too long (the Compare page).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peft
import torch
from transformers import TextStreamer

from studio.core import protocol
from studio.core.chat_segments import generation_prompt
from studio.core.datasets import Example, Message, tool_definitions
from studio.core.jobs import GenerateJob, ModelSettings, SamplingSettings, ServeJob
from studio.core.library import locate_adapter
from studio.engine import data_prep
from studio.engine.control import JobControl
from studio.engine.training import load_base

Emit = Callable[[protocol.Event], None]
BASE = "base"
CHAT_ROLES = ("system", "user", "assistant", "tool")


@dataclass
class AdapterSet:
    """A base model with adapters attached by label ("base" is the base alone)."""

    model: Any
    tokenizer: Any
    labels: list[str] = field(default_factory=list)  # adapter labels, in load order
    _names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, settings: ModelSettings, adapters: list[str], emit: Emit) -> AdapterSet:
        base = load_base(settings, emit)
        loaded = cls(base.model, base.tokenizer)
        for adapter in adapters:
            loaded.add(adapter)
        loaded.model.eval()
        return loaded

    def add(self, adapter: str) -> str:
        """Attach an adapter (library ref or folder); returns its label."""
        folder, ref = locate_adapter(adapter)
        label = ref or str(Path(folder))
        if label in self._names:
            return label
        name = f"adapter{len(self._names)}"
        if not self._names:
            self.model = peft.PeftModel.from_pretrained(self.model, str(folder), adapter_name=name)
        else:
            self.model.load_adapter(str(folder), adapter_name=name)
        self._names[label] = name
        self.labels.append(label)
        self.model.eval()
        return label

    @contextlib.contextmanager
    def use(self, label: str) -> Iterator[Any]:
        """The model answering as ``label``: the base with adapters disabled, or one adapter."""
        if label == BASE:
            if self._names:
                with self.model.disable_adapter():
                    yield self.model
            else:
                yield self.model
            return
        if label not in self._names:
            raise KeyError(f"{label} is not loaded (loaded: {', '.join(self.labels) or 'none'})")
        self.model.set_adapter(self._names[label])
        yield self.model


class _EventStreamer(TextStreamer):
    """Turns decoded text into ``token`` events as generate produces it."""

    def __init__(self, tokenizer, emit: Emit, request: str, label: str):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.emit, self.request, self.label = emit, request, label
        self.started = time.perf_counter()
        self.first_token_s: float | None = None
        self.parts: list[str] = []

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if not text:
            return
        if self.first_token_s is None:
            self.first_token_s = time.perf_counter() - self.started
        self.parts.append(text)
        self.emit(protocol.Token(request=self.request, adapter=self.label, text=text))


def chat(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Example:
    """A prompt's turns ({"role", "content"} dicts, as the CLI, playground and requests send them)
    and the tool definitions they may call, as an example to render the way training does."""
    turns = []
    for message in messages:
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(CHAT_ROLES)}")
        turns.append(Message(role, str(message.get("content") or ""), name=str(message.get("name") or "")))
    return Example(kind="chat", messages=tuple(turns), tools=tool_definitions(tools) if tools else ())


def prompt_ids(tokenizer, prompt: Example) -> torch.Tensor:
    """The prompt's tokens as training wrote them (tools through the template or its fallback)."""
    text = generation_prompt(prompt, data_prep.renderer(tokenizer), data_prep.template_text(tokenizer))
    return tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]


def answer(adapters: AdapterSet, label: str, prompt: Example, sampling: SamplingSettings,
           emit: Emit, request: str = "") -> protocol.Answer:
    """Generate one answer as ``label``, streaming it; returns (and emits) the answer event."""
    tokenizer = adapters.tokenizer
    streamer = _EventStreamer(tokenizer, emit, request, label)
    greedy = sampling.temperature <= 0
    kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "do_sample": not greedy,
                              "pad_token_id": tokenizer.pad_token_id, "streamer": streamer}
    if not greedy:
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or None)
    torch.manual_seed(sampling.seed)
    with adapters.use(label) as model:
        ids = prompt_ids(tokenizer, prompt).to(model.device)
        with torch.no_grad():
            out = model.generate(input_ids=ids, **kwargs)
    new = out[0][ids.shape[1]:]
    text = tokenizer.decode(new, skip_special_tokens=True).strip()
    asked = prompt.messages[-1].content if prompt.messages else prompt.prompt
    event = protocol.Answer(request=request, adapter=label, prompt=asked, text=text,
                            tokens=int(new.shape[0]), seconds=round(time.perf_counter() - streamer.started, 3),
                            first_token_s=round(streamer.first_token_s, 3) if streamer.first_token_s else None)
    emit(event)
    return event


def run_generation(job: GenerateJob, emit: Emit) -> dict[str, Any]:
    adapters = AdapterSet.load(job.model, job.adapters, emit)
    labels = [BASE, *adapters.labels]
    emit(protocol.Phase("generating", done=0, total=len(job.prompts) * len(labels)))
    answers: list[dict[str, str]] = []
    for label in labels:
        for index, prompt in enumerate(job.prompts):
            event = answer(adapters, label, chat([{"role": "user", "content": prompt}], job.tools), job.sampling,
                           emit, request=f"p{index}")
            emit(protocol.Sample(step=0, prompt=prompt, text=event.text, adapter=label))
            answers.append({"adapter": label, "prompt": prompt, "text": event.text})
    return {"answers": answers}


def run_serve(job: ServeJob, emit: Emit, control: JobControl) -> dict[str, Any]:
    """Answer ``generate`` requests until stopped or idle for ``idle_timeout_s``."""
    adapters = AdapterSet.load(job.model, job.adapters, emit)
    emit(protocol.Phase("ready", detail=", ".join([BASE, *adapters.labels])))
    served = 0
    while True:
        request = control.next_request(job.idle_timeout_s)
        if request is None:
            break
        sampling = _sampling(job.sampling, request.get("sampling") or {})
        wanted = request.get("adapters") or [BASE, *adapters.labels]
        for label in wanted:
            try:
                label = label if label == BASE else adapters.add(label)
                answer(adapters, label, chat(request["messages"], request.get("tools")), sampling, emit,
                       request=str(request.get("id", "")))
            except Exception as exc:  # noqa: BLE001 - one bad request must not end the session
                emit(protocol.Warning(f"request {request.get('id')}: {label}: {exc}"))
        served += 1
    reason = "stopped" if control.stop_requested else "idle"
    return {"requests": served, "ended": reason, "adapters": adapters.labels}


def _sampling(default: SamplingSettings, overrides: dict[str, Any]) -> SamplingSettings:
    values = {**default.__dict__, **{k: v for k, v in overrides.items() if k in default.__dict__}}
    return SamplingSettings(**values)
