"""Chat templates rendered in pure Python, and the trained/untrained split."""

from __future__ import annotations

import pytest

from studio.core.chat_segments import example_segments, render_chat
from studio.core.datasets import Example, Message

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def chatml(messages, generation_prompt):
    return render_chat(CHATML, messages, generation_prompt)


def test_render_chat_chatml():
    text = render_chat(CHATML, [{"role": "user", "content": "hi"}], True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_render_chat_raise_exception_is_a_template_error():
    from jinja2.exceptions import TemplateError

    with pytest.raises(TemplateError, match="roles must alternate"):
        render_chat("{{ raise_exception('roles must alternate') }}", [])


def test_segments_mark_only_assistant_turns():
    ex = Example(kind="chat", messages=(Message("user", "q1"), Message("assistant", "a1"),
                                        Message("user", "q2"), Message("assistant", "a2")))
    segments = example_segments(ex, chatml)
    assert "".join(text for text, _ in segments) == chatml([{"role": m.role, "content": m.content}
                                                            for m in ex.messages], False)
    assert [text for text, trained in segments if trained] == ["a1<|im_end|>\n", "a2<|im_end|>\n"]


def test_segments_for_completion_and_text():
    comp = Example(kind="completion", prompt="P ", completion="C")
    assert example_segments(comp, chatml, "</s>") == [("P ", False), ("C</s>", True)]
    assert example_segments(Example(kind="text", text="T"), chatml, "</s>") == [("T</s>", True)]


def test_a_template_that_rewrites_history_trains_on_everything():
    def unstable(messages, generation_prompt):
        return f"[{len(messages)}]" + "".join(m["content"] for m in messages)

    ex = Example(kind="chat", messages=(Message("user", "q"), Message("assistant", "a")))
    assert example_segments(ex, unstable) == [("[2]qa", True)]
