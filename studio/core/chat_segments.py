"""Split an example into (text, counts-toward-loss) pieces through a chat template.

Pure Python, so the GUI can highlight the trained tokens of a row without torch,
and the engine uses the very same split to build its labels. ``render`` is any
function that renders messages with a chat template: transformers'
``apply_chat_template`` in the engine, :func:`render_chat` (jinja2) in the GUI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from studio.core.datasets import Example, Message

# (messages, add_generation_prompt[, tools]) -> text; tools are passed only to chats that have them.
Render = Callable[..., str]

# How tool use is written for a model whose chat template has no tool support (the
# Hermes/Qwen convention, which many base models have seen): the definitions in the
# system turn, each call as JSON between <tool_call> tags, each result between
# <tool_response> tags.
TOOLS_PROMPT = ("You can call these tools. To call one, answer with <tool_call>{\"name\": ..., "
                "\"arguments\": {...}}</tool_call>.\n<tools>\n%s\n</tools>")
FALLBACK_TOOLS_NOTE = ("the model's chat template has no tool support, so tool definitions are written into the "
                       "system turn, calls as <tool_call>{json}</tool_call> and results as "
                       "<tool_response>...</tool_response>; prompt the adapter the same way")

# A preview's cut for one line of a turn: a tool call with its arguments, an assistant's reasoning.
PREVIEW_CHARS = 120

# Used only when a model ships no chat template: plain role headers that any
# tokenizer can encode, ending each turn with the EOS token so generation stops.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '### ' + message['role'] | capitalize + ':\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TemplateSupport:
    """What a chat template renders itself (read from its text, as transformers' own checks do)."""

    tools: bool = True
    reasoning: bool = True

    @classmethod
    def of(cls, template: str | None) -> TemplateSupport:
        text = template or ""
        return cls(tools="tool_calls" in text, reasoning="reasoning_content" in text)


def clip(text: str, limit: int = PREVIEW_CHARS) -> str:
    """``text`` on one line (each run of whitespace one space), cut to ``limit`` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_summary(name: str, arguments: dict[str, Any], limit: int = PREVIEW_CHARS) -> str:
    """``get_weather({"city":"Paris"})``: one call as a preview shows it, its arguments as compact JSON."""
    return clip(f"{name}({json.dumps(arguments, ensure_ascii=False, separators=(',', ':'))})", limit)


def tools_summary(tools: Sequence[dict[str, Any]]) -> str:
    """"none", or the names of tool definitions (OpenAI shape): the first three, then "+N"."""
    if not tools:
        return "none"
    names = [str(t.get("function", {}).get("name", "?")) for t in tools]
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


def call_text(name: str, arguments: dict[str, Any]) -> str:
    """One call as the fallback writes it (and as a trained adapter answers)."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "\n</tool_call>"


def template_messages(example: Example, support: TemplateSupport,
                      tool_role: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, list[bool]]:
    """(messages for the template, tools for it or None, trained flag per message).

    Where the template can't render tool use or reasoning, it is written into the
    text instead (TOOLS_PROMPT, call_text, <think>); with ``tool_role`` False, tool
    results become user turns, for templates that refuse any other role."""
    messages: list[dict[str, Any]] = []
    trained: list[bool] = []
    for message in example.messages:
        converted = _template_message(message, support)
        if message.role == "tool" and not support.tools:
            converted["content"] = f"<tool_response>\n{message.content}\n</tool_response>"
            if not tool_role:
                if messages and messages[-1]["role"] == "user" and trained[-1] is False and _was_tool(messages[-1]):
                    messages[-1]["content"] += "\n" + converted["content"]
                    continue
                converted = {"role": "user", "content": converted["content"]}
        messages.append(converted)
        trained.append(message.role == "assistant" and message.train is not False)
    tools = [dict(tool) for tool in example.tools] or None
    if tools and not support.tools:
        listing = TOOLS_PROMPT % "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)
        if messages and messages[0]["role"] == "system":
            messages[0] = {**messages[0], "content": messages[0]["content"] + "\n\n" + listing}
        else:
            messages.insert(0, {"role": "system", "content": listing})
            trained.insert(0, False)
        tools = None
    return messages, tools, trained


def _was_tool(message: dict[str, Any]) -> bool:
    return message["content"].startswith("<tool_response>")


def _template_message(message: Message, support: TemplateSupport) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.reasoning:
        if support.reasoning:
            out["reasoning_content"] = message.reasoning
        else:
            out["content"] = f"<think>\n{message.reasoning}\n</think>\n\n{message.content}"
    if message.tool_calls:
        if support.tools:
            out["tool_calls"] = [{"type": "function", "function": {"name": c.name, "arguments": c.arguments},
                                  **({"id": c.id} if c.id else {})} for c in message.tool_calls]
        else:
            calls = "\n".join(call_text(c.name, c.arguments) for c in message.tool_calls)
            out["content"] = (out["content"] + "\n" if out["content"] else "") + calls
    if message.role == "tool" and message.name:
        out["name"] = message.name
        out["tool_call_id"] = message.name
    return out


def example_segments(example: Example, render: Render, eos_token: str = "",
                     template: str | None = None) -> list[tuple[str, bool]]:
    """(text, trained) pieces whose concatenation is the whole rendered example.

    ``template``: the chat template's text, to tell whether it renders tool use and
    reasoning itself (None: assume it does)."""
    if example.kind == "text":
        return [(example.text + eos_token, True)]
    if example.kind == "completion":
        return [(example.prompt, False), (example.completion + eos_token, True)]
    return _through_template(example, template, lambda messages, tools, trained: _chat_segments(
        messages, tools, trained, render))


def generation_prompt(example: Example, render: Render, template: str | None = None) -> str:
    """The text a model continues to answer after ``example``'s turns (or a completion's prompt),
    written as training writes them: tool definitions, calls and results through the template
    or its fallback, so an adapter is asked the way it was taught."""
    if example.kind == "completion":
        return example.prompt
    return _through_template(example, template, lambda messages, tools, _trained: _draw(render, messages, tools, True))


def prompt_and_reply(example: Example, render: Render,
                     template: str | None = None) -> tuple[str, str] | None:
    """(generation prompt, the reply as rendered) of a chat that ends with the assistant's turn,
    or of a completion; None for anything else, or a template that rewrites earlier turns.
    The reply holds what the template writes for it (tool calls, end-of-turn tokens)."""
    if example.kind == "completion":
        return example.prompt, example.completion
    if example.kind != "chat" or not example.messages or example.messages[-1].role != "assistant":
        return None

    def both(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, _trained: list[bool]) -> tuple[str, str]:
        return _draw(render, messages[:-1], tools, True), _draw(render, messages, tools, False)

    prompt, whole = _through_template(example, template, both)
    return (prompt, whole[len(prompt):]) if whole.startswith(prompt) and len(whole) > len(prompt) else None


def _through_template(example: Example, template: str | None, use: Callable[..., Any]) -> Any:
    """``use(messages, tools, trained)`` on the example as its template takes it; for a template
    that refuses a "tool" role (raising), with the results in user turns instead."""
    support = TemplateSupport() if template is None else TemplateSupport.of(template)
    try:
        return use(*template_messages(example, support))
    except Exception:
        if support.tools or not any(m.role == "tool" for m in example.messages):
            raise
        return use(*template_messages(example, support, tool_role=False))


def _draw(render: Render, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
          generation_prompt: bool) -> str:
    return render(messages, generation_prompt, tools) if tools else render(messages, generation_prompt)


def _chat_segments(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, trained: list[bool],
                   render: Render) -> list[tuple[str, bool]]:
    def draw(upto: list[dict[str, Any]], generation_prompt: bool) -> str:
        return _draw(render, upto, tools, generation_prompt)

    segments: list[tuple[str, bool]] = []
    done = ""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = draw(messages[:index], True) if index else ""
        after = draw(messages[: index + 1], False)
        if not before.startswith(done) or not after.startswith(before):
            # A template that rewrites earlier turns can't be split by prefix;
            # train on the whole conversation rather than mislabel it.
            return [(draw(messages, False), True)]
        segments.append((before[len(done):], False))
        segments.append((after[len(before):], trained[index]))
        done = after
    # A conversation that ends with the assistant's turn was rendered whole just above.
    full = done if messages and messages[-1]["role"] == "assistant" and done else draw(messages, False)
    if full.startswith(done) and len(full) > len(done):
        segments.append((full[len(done):], False))
    return [s for s in segments if s[0]]


def render_chat(template: str, messages: list[dict[str, Any]], add_generation_prompt: bool = False,
                tools: list[dict[str, Any]] | None = None, **special_tokens: Any) -> str:
    """Render a Hugging Face chat template with jinja2, as transformers does (sandboxed)."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    # transformers' own tojson (plain json.dumps, not jinja2's HTML-escaping one), which tool templates use.
    env.filters["tojson"] = lambda value, indent=None, separators=None, sort_keys=False, ensure_ascii=False: (
        json.dumps(value, indent=indent, separators=separators, sort_keys=sort_keys, ensure_ascii=ensure_ascii))
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            tools=tools, **special_tokens)
