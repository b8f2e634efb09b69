"""Generation, serving and evaluation with an adapter trained here on the tiny model."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import Recorder, tiny_job

from studio.core import protocol
from studio.core.chat_segments import call_text
from studio.core.datasets import Example, Message
from studio.core.datasets.formats import ToolCall
from studio.core.job_schema import job_from_dict
from studio.core.jobs import SamplingSettings
from studio.engine.control import JobControl
from studio.engine.evaluation import PROGRESS_EVENTS, prompt_and_reference, run_eval
from studio.engine.generation import BASE, AdapterSet, answer, chat, prompt_ids, run_serve
from studio.engine.training import train

GREEDY = SamplingSettings(max_new_tokens=24, temperature=0.0)
ASK = [{"role": "user", "content": "Who are you?"}]


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("gen-run")
    train(tiny_job(tiny_model_dir, training={"max_steps": 24}), run_dir, Recorder(), JobControl())
    return run_dir / "adapter"


@pytest.fixture(scope="module")
def loaded(tiny_model_dir, adapter):
    return AdapterSet.load(job_from_dict({"kind": "generate", "model": {"path": str(tiny_model_dir)}}).model,
                           [str(adapter)], Recorder())


def test_switching_adapters_changes_answers_and_switching_back_restores_them(loaded, adapter):
    label = str(adapter)
    rec = Recorder()
    base_first = answer(loaded, BASE, chat(ASK), GREEDY, rec).text
    tuned_first = answer(loaded, label, chat(ASK), GREEDY, rec).text
    base_again = answer(loaded, BASE, chat(ASK), GREEDY, rec).text
    tuned_again = answer(loaded, label, chat(ASK), GREEDY, rec).text
    assert tuned_first != base_first
    assert (base_again, tuned_again) == (base_first, tuned_first)


def test_answers_stream_as_several_token_events(loaded, adapter):
    rec = Recorder()
    final = answer(loaded, str(adapter), chat(ASK), SamplingSettings(max_new_tokens=40, temperature=0.0), rec, "r1")
    tokens = rec.of(protocol.Token)
    assert len(tokens) > 1 and all(t.request == "r1" for t in tokens)
    assert "".join(t.text for t in tokens).strip() == final.text
    assert rec.events[-1] is final and final.tokens > 1 and final.first_token_s is not None


def test_serving_answers_queued_requests_then_ends_when_idle(tiny_model_dir, adapter):
    control = JobControl()
    control.submit({"id": "a", "messages": ASK, "adapters": ["base"], "sampling": {"temperature": 0}})
    control.submit({"id": "b", "messages": ASK, "sampling": {"temperature": 0, "max_new_tokens": 8}})
    job = job_from_dict({"kind": "serve", "model": {"path": str(tiny_model_dir)}, "adapters": [str(adapter)],
                         "idle_timeout_s": 0.3})
    rec = Recorder()
    out = run_serve(job, rec, control)
    answers = rec.of(protocol.Answer)
    assert [(a.request, a.adapter) for a in answers] == [("a", "base"), ("b", "base"), ("b", str(adapter))]
    assert out == {"requests": 2, "ended": "idle", "adapters": [str(adapter)]}
    assert any(isinstance(e, protocol.Phase) and e.name == "ready" for e in rec.events)


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def test_prompts_carry_their_tools_as_training_wrote_them(loaded):
    """The tiny model's template has no tool support: the definitions go into a system turn, as
    training wrote a tool dataset's, so an adapter is asked the way it was taught."""
    tokenizer = loaded.tokenizer
    with_tools = tokenizer.decode(prompt_ids(tokenizer, chat(ASK, [WEATHER]))[0])
    plain = tokenizer.decode(prompt_ids(tokenizer, chat(ASK))[0])
    assert plain == tokenizer.apply_chat_template(ASK, add_generation_prompt=True, tokenize=False)
    assert with_tools.startswith("<|im_start|>system\nYou can call these tools.") and '"get_weather"' in with_tools
    assert with_tools.endswith(plain)


def test_a_request_with_a_bad_role_is_a_warning_and_the_next_is_answered(tiny_model_dir):
    control = JobControl()
    control.submit({"id": "bad", "messages": [{"role": "wizard", "content": "hi"}], "adapters": ["base"]})
    control.submit({"id": "ok", "messages": ASK, "tools": [WEATHER], "adapters": ["base"],
                    "sampling": {"temperature": 0, "max_new_tokens": 4}})
    job = job_from_dict({"kind": "serve", "model": {"path": str(tiny_model_dir)}, "idle_timeout_s": 0.3})
    rec = Recorder()
    run_serve(job, rec, control)
    assert [a.request for a in rec.of(protocol.Answer)] == ["ok"]
    assert any("unknown role 'wizard'" in w.message for w in rec.of(protocol.Warning))


def test_eval_asks_a_tool_row_with_its_tools_and_scores_the_call_as_trained(loaded):
    row = Example(kind="chat", tools=(WEATHER,), messages=(
        Message("user", "Weather in Oslo?"),
        Message("assistant", "", tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),))))
    prompt, reference = prompt_and_reference(row, loaded.tokenizer)
    assert prompt.tools == row.tools and prompt.messages == row.messages[:1]
    assert reference == call_text("get_weather", {"city": "Oslo"})  # what the adapter was trained to write
    completion = Example(kind="completion", prompt="2+2=", completion="4")
    assert prompt_and_reference(completion, loaded.tokenizer) == (replace(completion, completion=""), "4")


def test_eval_perplexity_is_lower_with_the_adapter_on_its_data(tiny_model_dir, adapter):
    job = job_from_dict({"kind": "eval", "model": {"path": str(tiny_model_dir)}, "adapters": [str(adapter)],
                         "dataset": {"path": "bundled", "max_rows": 48}, "split": "all", "max_length": 96,
                         "batch_size": 1, "generate_rows": 3, "max_new_tokens": 16})
    rec = Recorder()
    out = run_eval(job, rec)
    base, tuned = out["results"]
    assert (base["adapter"], tuned["adapter"]) == ("base", str(adapter))
    assert tuned["perplexity"] < base["perplexity"] and tuned["tokens"] == base["tokens"] > 0
    assert 0.0 <= tuned["rouge_l"] <= 1.0 and tuned["answered"] == 3
    assert tuned["rouge_l"] > base["rouge_l"]  # it learned the sample's answers' style
    # Progress (issue 21: the Compare page showed a static line for 9 minutes): model n of all,
    # then within each model the scored batches and the answers, ending at their totals.
    phases = [(p.name, p.done, p.total, p.detail) for p in rec.of(protocol.Phase) if p.name != "loading_model"]
    models = [p for p in phases if p[0] == "evaluating"]
    assert models == [("evaluating", 0, 2, "base"), ("evaluating", 1, 2, str(adapter)), ("evaluating", 2, 2, None)]
    for label in ("base", str(adapter)):
        scored = [done for name, done, total, detail in phases if name == "scoring" and detail == label]
        assert scored == sorted(scored) and scored[-1] == 48  # one batch a row: 48 batches
        assert 1 < len(scored) <= PROGRESS_EVENTS + 1  # a moving bar, not one event per batch
        answered = [done for name, done, total, detail in phases if name == "answering" and detail == label]
        assert answered == [0, 1, 2, 3]


def test_rouge_l_is_rouge_scores():
    from studio.engine.evaluation import rouge_l

    assert rouge_l("police killed the gunman", "police kill the gunman") == pytest.approx(0.75)
    assert rouge_l("The Cat, sat!", "the cat sat") == 1.0 and rouge_l("x y", "a b") == 0.0
