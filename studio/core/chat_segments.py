"""Split an example into (text, counts-toward-loss) pieces through a chat template.

Pure Python, so the GUI can highlight the trained tokens of a row without torch,
and the engine uses the very same split to build its labels. ``render`` is any
function that renders messages with a chat template: transformers'
``apply_chat_template`` in the engine, :func:`render_chat` (jinja2) in the GUI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.core.datasets import Example

Render = Callable[[list[dict[str, str]], bool], str]  # (messages, add_generation_prompt) -> text

# Used only when a model ships no chat template: plain role headers that any
# tokenizer can encode, ending each turn with the EOS token so generation stops.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '### ' + message['role'] | capitalize + ':\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\\n' }}{% endif %}"
)


def example_segments(example: Example, render: Render, eos_token: str = "") -> list[tuple[str, bool]]:
    """(text, trained) pieces whose concatenation is the whole rendered example."""
    if example.kind == "text":
        return [(example.text + eos_token, True)]
    if example.kind == "completion":
        return [(example.prompt, False), (example.completion + eos_token, True)]
    messages = [{"role": m.role, "content": m.content} for m in example.messages]
    segments: list[tuple[str, bool]] = []
    done = ""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(messages[:index], True) if index else ""
        after = render(messages[: index + 1], False)
        if not before.startswith(done) or not after.startswith(before):
            # A template that rewrites earlier turns can't be split by prefix;
            # train on the whole conversation rather than mislabel it.
            return [(render(messages, False), True)]
        segments.append((before[len(done):], False))
        segments.append((after[len(before):], True))
        done = after
    # A conversation that ends with the assistant's turn was rendered whole just above.
    full = done if messages and messages[-1]["role"] == "assistant" and done else render(messages, False)
    if full.startswith(done) and len(full) > len(done):
        segments.append((full[len(done):], False))
    return [s for s in segments if s[0]]


def render_chat(template: str, messages: list[dict[str, str]], add_generation_prompt: bool = False,
                **special_tokens: Any) -> str:
    """Render a Hugging Face chat template with jinja2, as transformers does (sandboxed)."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            **special_tokens)
