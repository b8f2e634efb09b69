"""The worker protocol: events and commands survive a trip through one JSON line."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from studio.core import protocol
from studio.core.protocol import (
    COMMANDS,
    EVENT_TYPES,
    EXIT_FOR_ERROR,
    PROTOCOL_VERSION,
    Answer,
    Checkpoint,
    Completions,
    Done,
    Error,
    Eval,
    Hello,
    Phase,
    ProtocolError,
    Sample,
    Step,
    System,
    Token,
    Warning,
    decode,
    decode_command,
    decode_request,
    encode,
    encode_command,
)

EXAMPLES = [
    Hello(pid=1234, versions={"torch": "2.5.1", "cuda": None}, devices=[{"index": 0, "name": "H100"}],
          run_dir="/tmp/run"),
    Phase(name="training", done=3, total=10, detail="epoch 1"),
    Step(step=7, total_steps=100, epoch=0.07, loss=2.5, lr=1e-4, grad_norm=0.8, tokens_per_s=1234.5,
         elapsed_s=12.0, eta_s=160.0),
    Eval(step=50, eval_loss=1.9, perplexity=6.69),
    System(gpus=[{"index": 0, "util": 97, "mem_used": 1 << 30, "mem_total": 80 << 30, "temp": 60}],
           cpu_percent=12.5, rss_bytes=1 << 31),
    Sample(step=20, prompt="Who are you?", text="Arr, Captain Lora — at yer service ☠"),
    Completions(step=5, samples=[{"prompt": "What is 2 plus 3?", "completion": "<answer>5</answer>",
                                  "rewards": {"numeric_match": 1.0, "file:mine.py": None}, "total": 1.0}]),
    Checkpoint(step=40, path="/runs/x/checkpoints/checkpoint-40"),
    Warning(message="the tokenizer has no pad token; using eos"),
    Token(request="r1", adapter="pirate/v2", text=" Ahoy"),
    Answer(request="r1", adapter="pirate/v2", prompt="Who are you?", text="Ahoy!", tokens=3, seconds=0.2,
           first_token_s=0.05),
    Done(outputs={"adapter_path": "/runs/x/adapter", "metrics": {"train_loss": 1.2}, "stopped": False}),
    Error(kind="oom", message="CUDA out of memory", hint="lower training.batch_size"),
]


def line_of(**fields) -> str:
    return json.dumps({"v": PROTOCOL_VERSION, "t": 1.0, **fields})


def test_examples_cover_every_event_type():
    assert {type(e).type for e in EXAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).type)
def test_event_round_trips(event):
    line = encode(event)
    assert line.endswith("\n") and "\n" not in line[:-1]
    data = json.loads(line)
    assert data["v"] == PROTOCOL_VERSION
    assert data["type"] == type(event).type
    assert isinstance(data["t"], float)
    back = decode(line)
    assert type(back) is type(event)
    assert dataclasses.asdict(back) == dataclasses.asdict(event)
    assert back == event
    assert decode(line.encode("utf-8")) == event


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).type)
def test_event_has_only_required_fields_set(event):
    # The smallest valid line: version, type and the fields without defaults.
    required = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    back = decode(json.dumps({"v": PROTOCOL_VERSION, "type": type(event).type, **required}))
    assert type(back) is type(event)
    assert isinstance(back.t, float)


def test_t_defaults_to_now():
    import time

    before = time.time()
    event = Warning(message="x")
    assert before <= event.t <= time.time()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_become_null(bad):
    step = Step(step=1, total_steps=2, epoch=0.5, loss=bad, lr=1e-4, grad_norm=bad)
    line = encode(step)
    assert "NaN" not in line and "Infinity" not in line
    data = json.loads(line)
    assert data["loss"] is None and data["grad_norm"] is None
    back = decode(line)
    assert back.loss is None and back.step == 1


def test_non_finite_numbers_inside_containers_become_null():
    done = Done(outputs={"metrics": {"eval_loss": math.nan, "history": [1.0, math.inf, (2.0, -math.inf)]}})
    data = json.loads(encode(done))
    assert data["outputs"]["metrics"] == {"eval_loss": None, "history": [1.0, None, [2.0, None]]}


def test_values_json_cannot_hold_are_sent_as_text():
    from pathlib import Path

    data = json.loads(encode(Done(outputs={"adapter_path": Path("/runs/x/adapter")})))
    assert data["outputs"]["adapter_path"] == "/runs/x/adapter"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not json",
        "{",
        '{"v": 1, "type": "warning", "message": "x"',  # torn line
        b"\xff\xfe",
        "[1, 2]",
        '"hello"',
        "42",
        "null",
    ],
)
def test_decode_rejects_garbage(line):
    with pytest.raises(ProtocolError):
        decode(line)


@pytest.mark.parametrize("version", [None, 0, 2, "1", 1.5, True])
def test_decode_rejects_other_versions(version):
    fields = {"type": "warning", "message": "x"}
    if version is not None:
        fields["v"] = version
    with pytest.raises(ProtocolError, match="protocol version"):
        decode(json.dumps(fields))


@pytest.mark.parametrize("kind", ["progress", "", None, 3, ["step"], {"a": 1}])
def test_decode_rejects_unknown_types(kind):
    with pytest.raises(ProtocolError, match="unknown event type"):
        decode(line_of(type=kind, message="x"))


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("hello", {}),
        ("phase", {}),
        ("step", {"step": 1, "total_steps": 2, "epoch": 0.5, "loss": 1.0}),  # no lr
        ("eval", {"step": 1, "eval_loss": 1.0}),
        ("sample", {"step": 1, "prompt": "p"}),
        ("checkpoint", {"path": "p"}),
        ("warning", {}),
        ("error", {"kind": "oom"}),
    ],
)
def test_decode_rejects_missing_required_fields(kind, fields):
    with pytest.raises(ProtocolError, match=f"bad {kind} event"):
        decode(line_of(type=kind, **fields))


def test_unknown_fields_are_ignored():
    event = decode(line_of(type="eval", step=5, eval_loss=1.5, perplexity=4.48,
                           accuracy=0.9, nested={"new": [1, 2]}))
    assert event == Eval(step=5, eval_loss=1.5, perplexity=4.48, t=1.0)
    assert not hasattr(event, "accuracy")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_round_trips(cmd):
    line = encode_command(cmd)
    assert line.endswith("\n")
    assert json.loads(line) == {"cmd": cmd}
    assert decode_command(line) == cmd
    assert decode_command(line.encode()) == cmd


def test_command_set_matches_the_design():
    assert set(COMMANDS) == {"stop", "cancel", "checkpoint", "pause", "resume", "generate"}


def test_generate_requests_carry_their_payload_and_are_checked():
    line = encode_command("generate", id="q1", messages=[{"role": "user", "content": "hi"}], adapters=["base"])
    assert decode_command(line) == "generate"
    assert decode_request(line)["messages"] == [{"role": "user", "content": "hi"}]
    with pytest.raises(ProtocolError, match="messages"):
        decode_request(encode_command("generate", id="q2"))
    with pytest.raises(ProtocolError, match="messages"):
        decode_request(encode_command("generate", messages=[{"role": "user"}]))


@pytest.mark.parametrize("cmd", ["kill", "", "STOP", None])
def test_encode_command_rejects_unknown_names(cmd):
    with pytest.raises(ProtocolError, match="unknown command"):
        encode_command(cmd)


@pytest.mark.parametrize(
    "line",
    ['{"cmd": "kill"}', '{"command": "stop"}', '{"cmd": ["stop"]}', '{"cmd": null}', '"stop"', "stop", ""],
)
def test_decode_command_rejects_bad_lines(line):
    with pytest.raises(ProtocolError):
        decode_command(line)


def test_decode_command_ignores_extra_fields():
    assert decode_command('{"cmd": "pause", "reason": "lunch"}') == "pause"


def test_exit_codes_cover_every_error_kind():
    kinds = set(protocol.ErrorKind.__args__)
    assert set(EXIT_FOR_ERROR) == kinds
    assert EXIT_FOR_ERROR["config"] == protocol.EXIT_BAD_JOB == 2
    assert EXIT_FOR_ERROR["data"] == protocol.EXIT_DATA == 3
    assert EXIT_FOR_ERROR["oom"] == protocol.EXIT_OOM == 4
    assert EXIT_FOR_ERROR["cancelled"] == protocol.EXIT_CANCELLED == 5
    assert EXIT_FOR_ERROR["internal"] == protocol.EXIT_INTERNAL == 1
    assert EXIT_FOR_ERROR["model"] == 1
    assert protocol.EXIT_OK == 0
    assert protocol.EXIT_OK not in EXIT_FOR_ERROR.values()


def test_final_events_are_done_and_error():
    assert set(protocol.FINAL_EVENTS) == {"done", "error"}
    assert set(protocol.FINAL_EVENTS) <= set(EVENT_TYPES)


def test_a_cancel_may_say_why_in_plain_text_only():
    line = protocol.encode_command("cancel", reason="pruned by the sweep at step 4:\n eval_loss 1.52")
    assert protocol.decode_command(line) == "cancel"
    assert protocol.cancel_reason(line) == "pruned by the sweep at step 4: eval_loss 1.52"
    assert protocol.cancelled_message(protocol.cancel_reason(line)).endswith("1.52; nothing was saved")
    assert protocol.cancel_reason(protocol.encode_command("cancel")) == ""
    assert protocol.cancelled_message("") == "cancelled by the user; nothing was saved"
    assert protocol.cancel_reason('{"cmd": "cancel", "reason": {"x": 1}}') == ""  # not text: no reason
    assert len(protocol.cancel_reason(protocol.encode_command("cancel", reason="x" * 10_000))) == 300
