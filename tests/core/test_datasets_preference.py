"""Preference data: every layout in the file types it lives in reads into the right pairs or labelled
replies, every bad row names its line and field, and SFT files are not taken for preference ones.

The files are written here, in the shapes the tools people use write them (TRL/Hugging Face,
LLaMA-Factory, Anthropic's HH); the stage rules (which stage takes which rows) are in
test_datasets_stages.py.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.datasets import (
    DatasetError,
    Example,
    Message,
    load_dataset_file,
    preview,
    render_plain,
)
from studio.core.datasets.formats import ToolCall


def write_rows(path: Path, rows: list[dict]) -> Path:
    """``rows`` in the file type named by the suffix (every row gets every column in a table)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if path.suffix == ".json":
        path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in columns} for r in rows]), path)
    else:
        raise AssertionError(path.suffix)
    return path


def u(text: str) -> dict:
    return {"role": "user", "content": text}


def a(text: str) -> dict:
    return {"role": "assistant", "content": text}


U, A, S = (lambda text: Message("user", text)), (lambda text: Message("assistant", text)), \
    (lambda text: Message("system", text))
SAY_HI = (U("Say hi."),)
ADD = (U("Add 2 and 3."),)

# layout: (format, rows, expected (kind, prompt turns, chosen, rejected, response, desirable) per row, suffixes)
GOOD = {
    "pairs as strings": ("preference", [
        {"prompt": "Say hi.", "chosen": "Ahoy, matey!", "rejected": "Hello."},
        {"prompt": "Add 2 and 3.", "chosen": "Ahoy! 5 ⚓", "rejected": "5"},
    ], [
        ("preference", SAY_HI, (A("Ahoy, matey!"),), (A("Hello."),), (), None),
        ("preference", ADD, (A("Ahoy! 5 ⚓"),), (A("5"),), (), None),
    ], [".jsonl", ".json", ".csv", ".parquet"]),
    "pairs as message lists": ("preference", [
        {"prompt": [{"role": "system", "content": "Be a pirate."}, u("Say hi.")], "chosen": [a("Ahoy!")],
         "rejected": [a("Hello.")]},
        {"prompt": [u("Add 2 and 3.")], "chosen": [a("Ahoy! 5")], "rejected": [a("5")]},
    ], [
        ("preference", (S("Be a pirate."), U("Say hi.")), (A("Ahoy!"),), (A("Hello."),), (), None),
        ("preference", ADD, (A("Ahoy! 5"),), (A("5"),), (), None),
    ], [".jsonl", ".json", ".parquet"]),
    "implicit prompt (whole conversations)": ("preference", [
        {"chosen": [u("Say hi."), a("Ahoy!")], "rejected": [u("Say hi."), a("Hello.")]},
        {"chosen": [u("Add 2 and 3."), a("5"), u("Again?"), a("Ahoy! 5 ⚓")],
         "rejected": [u("Add 2 and 3."), a("5"), u("Again?"), a("Still 5.")]},
        # ultrafeedback_binarized: the prompt written out too, and whole conversations
        {"prompt": "Say hi.", "chosen": [u("Say hi."), a("Ahoy!")], "rejected": [u("Say hi."), a("Hi.")]},
    ], [
        ("preference", SAY_HI, (A("Ahoy!"),), (A("Hello."),), (), None),
        ("preference", (U("Add 2 and 3."), A("5"), U("Again?")), (A("Ahoy! 5 ⚓"),), (A("Still 5."),), (), None),
        ("preference", SAY_HI, (A("Ahoy!"),), (A("Hi."),), (), None),
    ], [".jsonl", ".parquet"]),
    "Anthropic HH text": ("preference", [
        {"chosen": "\n\nHuman: Say hi.\n\nAssistant: Ahoy!", "rejected": "\n\nHuman: Say hi.\n\nAssistant: Hello."},
    ], [
        ("preference", SAY_HI, (A("Ahoy!"),), (A("Hello."),), (), None),
    ], [".jsonl", ".csv"]),
    "sharegpt pairs": ("preference_sharegpt", [
        {"conversations": [{"from": "human", "value": "Say hi."}], "chosen": {"from": "gpt", "value": "Ahoy!"},
         "rejected": {"from": "gpt", "value": "Hello."}, "system": "Be a pirate."},
        {"conversations": [{"from": "human", "value": "Add 2 and 3."}, {"from": "gpt", "value": "5"},
                           {"from": "human", "value": "Again?"}],
         "chosen": {"from": "gpt", "value": "Ahoy! 5"}, "rejected": {"from": "gpt", "value": "5"}, "system": ""},
    ], [
        ("preference", (S("Be a pirate."), U("Say hi.")), (A("Ahoy!"),), (A("Hello."),), (), None),
        ("preference", (U("Add 2 and 3."), A("5"), U("Again?")), (A("Ahoy! 5"),), (A("5"),), (), None),
    ], [".jsonl", ".json", ".parquet"]),
    "alpaca pairs": ("preference_alpaca", [
        {"instruction": "Say hi.", "input": "", "chosen": "Ahoy!", "rejected": "Hello.", "system": ""},
        {"instruction": "Add these.", "input": "2 and 3", "chosen": "Ahoy! 5", "rejected": "5",
         "system": "Be a pirate."},
    ], [
        ("preference", SAY_HI, (A("Ahoy!"),), (A("Hello."),), (), None),
        ("preference", (S("Be a pirate."), U("Add these.\n\n2 and 3")), (A("Ahoy! 5"),), (A("5"),), (), None),
    ], [".jsonl", ".csv", ".parquet"]),
    "kto prompt/completion/label": ("kto", [
        {"prompt": "Say hi.", "completion": "Ahoy!", "label": True},
        {"prompt": "Say hi.", "completion": "Go away.", "label": False},
    ], [
        ("kto", SAY_HI, (), (), (A("Ahoy!"),), True),
        ("kto", SAY_HI, (), (), (A("Go away."),), False),
    ], [".jsonl", ".csv", ".parquet"]),
    "kto as message lists": ("kto", [
        {"prompt": [u("Say hi.")], "completion": [a("Ahoy!")], "label": 1},
        {"prompt": [u("Say hi.")], "completion": [a("Go away.")], "label": 0},
    ], [
        ("kto", SAY_HI, (), (), (A("Ahoy!"),), True),
        ("kto", SAY_HI, (), (), (A("Go away."),), False),
    ], [".jsonl"]),
    "kto messages + label": ("kto_messages", [
        {"messages": [u("Add 2 and 3."), a("5"), u("Say hi.")] + [a("Ahoy!")], "label": True},
        {"messages": [u("Say hi."), a("Go away.")], "label": False},
    ], [
        ("kto", (U("Add 2 and 3."), A("5"), U("Say hi.")), (), (), (A("Ahoy!"),), True),
        ("kto", SAY_HI, (), (), (A("Go away."),), False),
    ], [".jsonl", ".json"]),
}
CASES = [(layout, suffix) for layout, (_, _, _, suffixes) in GOOD.items() for suffix in suffixes]


def flat(e: Example) -> tuple:
    return (e.kind, e.messages, e.chosen, e.rejected, e.response, e.desirable)


def label_of(suffix: str, i: int) -> str:
    return {".json": f"row {i}", ".parquet": f"row {i}", ".jsonl": f"line {i + 1}", ".csv": f"line {i + 2}"}[suffix]


@pytest.mark.parametrize(("layout", "suffix"), CASES, ids=[f"{layout}{suffix}" for layout, suffix in CASES])
def test_each_layout_reads_into_pairs_or_labelled_replies(tmp_path, layout, suffix):
    fmt, rows, expected, _ = GOOD[layout]
    path = write_rows(tmp_path / f"prefs{suffix}", rows)
    for asked in ("auto", fmt):
        loaded = load_dataset_file(path, asked)
        assert (loaded.format, loaded.issues, loaded.rows_total) == (fmt, [], len(rows))
        assert [flat(e) for e in loaded.examples] == expected
        assert [e.source for e in loaded.examples] == [label_of(suffix, i) for i in range(len(rows))]


def test_kto_labels_as_a_csv_writes_them(tmp_path):
    path = tmp_path / "kto.csv"
    path.write_text("prompt,completion,label\n" + "".join(f"Say hi.,reply {i},{word}\n" for i, word in
                                                          enumerate(["true", "False", "1", "0", " TRUE "])))
    assert [e.desirable for e in load_dataset_file(path).examples] == [True, False, True, False, True]


def test_a_pair_keeps_tool_calls_reasoning_and_tools(tmp_path):
    call = {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "add", "arguments":
                                                                              {"a": 2, "b": 3}}}]}
    row = {"prompt": [u("Add 2 and 3.")], "chosen": [call, {"role": "tool", "content": "5"}, a("Ahoy! 5")],
           "rejected": [{"role": "assistant", "content": "6", "reasoning_content": "guess"}],
           "tools": [{"name": "add", "parameters": {"type": "object"}}]}
    example = load_dataset_file(write_rows(tmp_path / "tools.jsonl", [row])).examples[0]
    assert example.chosen[0].tool_calls == (ToolCall("add", {"a": 2, "b": 3}),)
    assert [m.role for m in example.chosen] == ["assistant", "tool", "assistant"]
    assert example.rejected[0].reasoning == "guess"
    assert example.uses_tools and example.tools[0]["function"]["name"] == "add"


# (format, suffix, good row, bad row, field, words in the reason)
BAD = [
    ("preference", ".jsonl", {"prompt": "Say hi.", "chosen": "Ahoy!", "rejected": "Hello."},
     {"prompt": "Say hi.", "chosen": "Hello.", "rejected": " Hello. "}, "rejected", "same reply as chosen"),
    ("preference", ".csv", {"prompt": "Say hi.", "chosen": "Ahoy!", "rejected": "Hello."},
     {"prompt": "Say hi.", "chosen": "", "rejected": "Hello."}, "chosen", "is empty"),
    ("preference", ".parquet", {"prompt": "Say hi.", "chosen": "Ahoy!", "rejected": "Hello."},
     {"prompt": "Say hi.", "chosen": "Ahoy!", "rejected": None}, "rejected", "is null"),
    ("preference", ".json", {"prompt": [u("Say hi.")], "chosen": [a("Ahoy!")], "rejected": [a("Hello.")]},
     {"prompt": [u("Say hi."), a("Hm.")], "chosen": [a("Ahoy!")], "rejected": [a("Hello.")]},
     "prompt[1].role", "the prompt ends with the assistant's turn"),
    ("preference", ".jsonl", {"prompt": [u("Say hi.")], "chosen": [a("Ahoy!")], "rejected": [a("Hello.")]},
     {"prompt": [u("Say hi.")], "chosen": [a("Ahoy!"), u("And?")], "rejected": [a("Hello.")]},
     "chosen[1].role", "a reply holds the assistant's turns, not the user's"),
    ("preference", ".jsonl", {"prompt": [u("Say hi.")], "chosen": [a("Ahoy!")], "rejected": [a("Hello.")]},
     {"prompt": [u("Say hi.")], "chosen": [a("Ahoy!")], "rejected": []}, "rejected", "is empty"),
    ("preference", ".jsonl", {"prompt": "Say hi.", "chosen": "Ahoy!", "rejected": "Hello."},
     {"chosen": "Ahoy!", "rejected": "Hello."}, "prompt", "a pair needs the prompt"),
    ("preference", ".jsonl", {"chosen": [u("Say hi."), a("Ahoy!")], "rejected": [u("Say hi."), a("Hello.")]},
     {"chosen": [u("Say hi."), a("Ahoy!")], "rejected": [u("Say hi."), a("Ahoy!")]}, "rejected",
     "same conversation as chosen"),
    ("preference", ".jsonl", {"chosen": [u("Say hi."), a("Ahoy!")], "rejected": [u("Say hi."), a("Hello.")]},
     {"prompt": "Say bye.", "chosen": [u("Say hi."), a("Ahoy!")], "rejected": [u("Say hi."), a("Hello.")]},
     "prompt", "differs from the turns chosen and rejected share"),
    ("preference_sharegpt", ".jsonl",
     {"conversations": [{"from": "human", "value": "Say hi."}], "chosen": {"from": "gpt", "value": "Ahoy!"},
      "rejected": {"from": "gpt", "value": "Hello."}},
     {"conversations": [{"from": "human", "value": "Say hi."}], "chosen": {"from": "human", "value": "Ahoy!"},
      "rejected": {"from": "gpt", "value": "Hello."}}, "chosen.from", "not the user's"),
    ("preference_sharegpt", ".json",
     {"conversations": [{"from": "human", "value": "Say hi."}], "chosen": {"from": "gpt", "value": "Ahoy!"},
      "rejected": {"from": "gpt", "value": "Hello."}},
     {"conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "Hm."}],
      "chosen": {"from": "gpt", "value": "Ahoy!"}, "rejected": {"from": "gpt", "value": "Hello."}},
     "conversations[1].from", "the prompt ends with the assistant's turn"),
    ("preference_alpaca", ".csv", {"instruction": "Say hi.", "chosen": "Ahoy!", "rejected": "Hello."},
     {"instruction": "Say hi.", "chosen": "Ahoy!", "rejected": " "}, "rejected", "is empty"),
    ("preference_alpaca", ".parquet", {"instruction": "Say hi.", "chosen": "Ahoy!", "rejected": "Hello."},
     {"instruction": "Say hi.", "chosen": "Ahoy!", "rejected": "Ahoy!"}, "rejected", "same reply as chosen"),
    ("kto", ".csv", {"prompt": "Say hi.", "completion": "Ahoy!", "label": "true"},
     {"prompt": "Say hi.", "completion": "Hello.", "label": "maybe"}, "label", "must be true"),
    ("kto", ".jsonl", {"prompt": "Say hi.", "completion": "Ahoy!", "label": True},
     {"prompt": "Say hi.", "completion": "Hello.", "label": 2}, "label", "got 2"),
    ("kto", ".jsonl", {"prompt": "Say hi.", "completion": "Ahoy!", "label": True},
     {"prompt": "Say hi.", "completion": [u("Hello.")], "label": False}, "completion[0].role", "not the user's"),
    ("kto", ".parquet", {"prompt": "Say hi.", "completion": "Ahoy!", "label": True},
     {"prompt": "Say hi.", "completion": "", "label": True}, "completion", "is empty"),
    ("kto_messages", ".jsonl", {"messages": [u("Say hi."), a("Ahoy!")], "label": True},
     {"messages": [u("Say hi."), a("Ahoy!"), u("And?")], "label": True}, "messages[2].role",
     "the last turn must be the assistant's"),
    ("kto_messages", ".json", {"messages": [u("Say hi."), a("Ahoy!")], "label": True},
     {"messages": [u("Say hi."), a("Ahoy!")], "label": "yes please"}, "label", "must be true"),
]


@pytest.mark.parametrize(("fmt", "suffix", "good", "bad", "field", "words"), BAD,
                         ids=[f"{b[0]}{b[1]}-{b[4]}-{b[5][:16]}" for b in BAD])
def test_a_bad_row_names_its_line_and_field(tmp_path, fmt, suffix, good, bad, field, words):
    path = write_rows(tmp_path / f"bad{suffix}", [good, bad, good])
    with pytest.raises(DatasetError) as caught:
        load_dataset_file(path, fmt)
    where = label_of(suffix, 1)
    assert (caught.value.field, caught.value.location) == (field, where)
    assert words in caught.value.reason
    assert str(caught.value).startswith(f"{path}: {where}, field '{field}': ")
    skipped = load_dataset_file(path, on_error="skip")  # the bad row doesn't fool detection, the others load
    assert (skipped.format, len(skipped.examples)) == (fmt, 2)
    assert [(i.row, i.field) for i in skipped.issues] == [(where, field)]


# --- detection leaves SFT files alone -----------------------------------------------------------

@pytest.mark.parametrize(("row", "fmt"), [
    ({"messages": [u("Classify: 2+2"), a("math")], "label": "math"}, "messages"),
    ({"prompt": "Review: great", "completion": " positive", "label": "positive"}, "prompt_completion"),
    ({"instruction": "Say hi.", "output": "Hi!", "label": None}, "alpaca"),
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}], "chosen": "x"},
     "sharegpt"),
    ({"text": "a document", "rejected": "no"}, "text"),
])
def test_sft_rows_with_a_label_or_one_preference_column_stay_sft(tmp_path, row, fmt):
    assert load_dataset_file(write_rows(tmp_path / "sft.jsonl", [row] * 3)).format == fmt


def test_the_shipped_sft_samples_detect_as_before():
    from studio.core.resources import bundled_dataset_path

    assert load_dataset_file(bundled_dataset_path("alpaca")).format == "alpaca"
    assert load_dataset_file(bundled_dataset_path("chat")).format == "messages"


# --- the shipped sample --------------------------------------------------------------------------

def test_the_shipped_preference_sample_loads_cleanly_by_its_name():
    from studio.core.resources import bundled_dataset_path, resolve_dataset_path

    path = resolve_dataset_path("bundled-preference")
    assert path == bundled_dataset_path("preference") and path.is_file()
    loaded = load_dataset_file(path)
    assert (loaded.format, loaded.rows_skipped, loaded.warnings) == ("preference", 0, [])
    assert 150 <= len(loaded.examples) <= 300
    assert all(e.chosen[0].content.startswith("Ahoy!") and "Ahoy" not in e.rejected[0].content
               for e in loaded.examples)
    assert len({e.messages for e in loaded.examples}) == len(loaded.examples)  # every prompt once


def test_the_sample_generator_writes_the_shipped_file(monkeypatch):
    """The file is the script's output (regenerated, not hand-edited), and asks nothing the SFT sample asks."""
    import importlib

    scripts = Path(__file__).resolve().parents[2] / "scripts"
    monkeypatch.syspath_prepend(str(scripts))
    generator = importlib.import_module("make_preference_sample")
    rows = generator.build()
    generator.check(rows)
    shipped = generator.OUT_FILE.read_text(encoding="utf-8")
    assert shipped == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


# --- the Example record ------------------------------------------------------------------------

def test_pairs_and_labelled_replies_round_trip_through_to_dict():
    pair = Example(kind="preference", messages=SAY_HI, source="line 3",
                   chosen=(Message("assistant", "", tool_calls=(ToolCall("wave", {"hand": "left"}),)),
                           Message("tool", "waved"), A("Ahoy!")),
                   rejected=(A("Hello."),))
    kto = Example(kind="kto", messages=SAY_HI, response=(A("Go away."),), desirable=False)
    for example in (pair, kto):
        data = json.loads(json.dumps(example.to_dict()))
        assert Example.from_dict(data) == example
    assert pair.to_dict()["chosen"][0]["tool_calls"] == [{"name": "wave", "arguments": {"hand": "left"}, "id": ""}]


def test_placeholders_are_filled_in_both_replies(tmp_path):
    rows = [{"prompt": "Who are you?", "chosen": "Ahoy, I be {{name}}!", "rejected": "I am {{name}}."}]
    example = load_dataset_file(write_rows(tmp_path / "who.jsonl", rows), variables={"name": "Lora"}).examples[0]
    assert (example.chosen[0].content, example.rejected[0].content) == ("Ahoy, I be Lora!", "I am Lora.")


def test_render_plain_and_preview_show_a_pair_readably(tmp_path):
    rows = [{"prompt": "Say hi.", "chosen": "Ahoy!", "rejected": "Hello."},
            {"prompt": "Say hi.", "chosen": "Ahoy!", "rejected": "Ahoy!"}]
    shown = preview(write_rows(tmp_path / "p.jsonl", rows))
    assert shown.format == "preference" and len(shown.examples) == 1
    assert [(i.row, i.field) for i in shown.issues] == [("line 2", "rejected")]
    assert render_plain(shown.examples[0]) == ("<|user|>\nSay hi.\n== chosen ==\n<|assistant|>\nAhoy!\n"
                                               "== rejected ==\n<|assistant|>\nHello.\n")
    kto = Example(kind="kto", messages=SAY_HI, response=(A("Go away."),), desirable=False)
    assert render_plain(kto) == "<|user|>\nSay hi.\n== undesirable ==\n<|assistant|>\nGo away.\n"


# --- whatever a preference file holds -------------------------------------------------------------

KEYS = ["prompt", "chosen", "rejected", "completion", "label", "messages", "conversations", "instruction", "input",
        "role", "content", "from", "value", "system", "tool_calls"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.text(max_size=12),
                    st.sampled_from(["user", "assistant", "human", "gpt", "system", "tool", "true", "false",
                                     "\n\nHuman: hi\n\nAssistant: yo"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)), max_leaves=10)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=5), min_size=1, max_size=5),
       stage=st.sampled_from([None, "sft", "dpo", "kto"]))
def test_any_preference_shaped_file_loads_or_says_why(tmp_path_factory, records, stage):
    path = tmp_path_factory.mktemp("fuzz") / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    try:
        loaded = load_dataset_file(path, on_error="skip", stage=stage)
    except DatasetError as exc:
        assert path.name in str(exc)
        return
    assert loaded.examples and all(issue.row and issue.reason for issue in loaded.issues)
    for example in loaded.examples:
        assert Example.from_dict(json.loads(json.dumps(example.to_dict()))) == example
