"""Reading files, detecting formats, skipping bad rows, previewing and splitting."""

from __future__ import annotations

import hashlib
import json
import pickle
import re

import pytest

from studio.core.datasets import (
    DatasetError,
    RawRecord,
    RowIssue,
    detect_format,
    load_dataset_file,
    preview,
    read_records,
    split_train_eval,
)

ALPACA = {"instruction": "Say hi.", "output": "Hi!"}


def jsonl(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


# --- detection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"instruction": "a", "input": "", "output": "b"}], "alpaca"),
        ([{"conversations": []}], "sharegpt"),
        ([{"messages": [], "text": "also here"}], "messages"),
        ([{"prompt": "a", "completion": "b", "id": 3}], "prompt_completion"),
        ([{"text": "a", "meta": {}}], "text"),
        (["a raw paragraph"], "text"),
        # A few odd rows at the top do not decide: the majority does.
        (
            [{"text": "a"}, {"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}],
            "prompt_completion",
        ),
    ],
)
def test_detect_format(rows, expected):
    assert detect_format(rows) == expected


def test_detect_format_lists_every_format_when_nothing_fits():
    with pytest.raises(DatasetError) as info:
        detect_format([{"question": "a", "answer": "b"}], file="qa.jsonl")
    message = str(info.value)
    assert message.startswith(
        "qa.jsonl: cannot tell the dataset format from the keys ['answer', 'question']"
    )
    for expected in (
        "alpaca",
        "instruction",
        "sharegpt",
        "conversations",
        "messages",
        "role",
        "prompt_completion",
        "completion",
        "text",
    ):
        assert expected in message


def test_detection_ignores_unreadable_rows(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl("{not json", ALPACA), encoding="utf-8")
    assert load_dataset_file(path, on_error="skip").format == "alpaca"


def test_unknown_format_name_is_a_value_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl(ALPACA), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown dataset format 'vicuna'"):
        load_dataset_file(path, "vicuna")


def test_explicit_format_that_does_not_fit(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl(ALPACA), encoding="utf-8")
    with pytest.raises(
        DatasetError, match=r"d.jsonl: line 1, field 'messages': missing required field"
    ):
        load_dataset_file(path, "messages")


def test_txt_needs_the_text_format(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("just prose\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="use the 'text' format"):
        load_dataset_file(path, "alpaca")


# --- skipping and fingerprint ----------------------------------------------------------------


def test_skip_collects_issues_and_counts(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        jsonl(
            ALPACA,
            '{"instruction": "x", "output": ',
            "",
            ALPACA,
            {"instruction": "y"},
            [1, 2],
            ALPACA,
        ),
        encoding="utf-8",
    )
    loaded = load_dataset_file(path, on_error="skip")
    assert (len(loaded.examples), loaded.rows_total, loaded.rows_skipped) == (3, 6, 3)
    assert [e.source for e in loaded.examples] == ["line 1", "line 4", "line 7"]
    assert loaded.issues == [
        RowIssue("line 2", None, "invalid JSON: Expecting value (column 32)"),
        RowIssue("line 5", "output", "missing required field"),
        RowIssue("line 6", None, "expected an object, got list"),
    ]
    assert loaded.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    # The default stops at the first bad row.
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: line 2: invalid JSON"):
        load_dataset_file(path)


def test_skip_with_no_usable_row_still_raises(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        jsonl({"instruction": "a", "output": ""}, {"instruction": "b", "output": 1}),
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match="none of the 2 rows can be used as 'alpaca'"):
        load_dataset_file(path, on_error="skip")


def test_fingerprint_changes_with_the_bytes(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl(ALPACA), encoding="utf-8")
    before = load_dataset_file(path).fingerprint
    path.write_text(jsonl(ALPACA, ALPACA), encoding="utf-8")
    after = load_dataset_file(path).fingerprint
    assert len(before) == 16 and before != after


# --- unreadable files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        (
            "d.jsonl",
            jsonl(ALPACA, ALPACA).encode() + b'{"instruction": "caf\xe9", "output": "x"}\n',
            3,
        ),
        ("d.json", b'[\n  {"instruction": "a",\n   "output": "\xff"}\n]', 3),
        ("d.csv", b"instruction,output\na,b\nc,\xe9\n", 3),
        ("d.txt", b"ok\n\nnot \x80 ok\n", 3),
    ],
)
def test_non_utf8_names_the_line(tmp_path, name, content, line):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as info:
        load_dataset_file(path)
    assert (info.value.row, info.value.unit) == (line, "line")
    assert str(info.value).startswith(f"{path}: line {line}: not valid UTF-8")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("d.jsonl", b"", "file is empty"),
        ("d.json", b"", "file is empty"),
        ("d.csv", b"", "file is empty"),
        ("d.parquet", b"", "file is empty"),
        ("d.txt", b"", "file is empty"),
        ("d.jsonl", b"\n  \n\n", "file is empty"),
        ("d.txt", b"\n \n", "file is empty"),
        ("d.json", b"  \n", "file is empty"),
        ("d.json", b"[]", "file is empty"),
        ("d.csv", b"instruction,output\n", "header but no data rows"),
        ("d.parquet", b"PAR1 certainly not parquet", "not a readable Parquet file"),
    ],
)
def test_empty_or_broken_files(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=reason) as info:
        load_dataset_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.field is None


def test_invalid_json_document_names_the_line(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(
        '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c" "output": "d"}\n]',
        encoding="utf-8",
    )
    with pytest.raises(DatasetError) as info:
        load_dataset_file(path)
    assert (info.value.row, info.value.unit) == (3, "line")
    assert str(info.value) == f"{path}: line 3: invalid JSON: Expecting ',' delimiter (column 23)"


def test_invalid_jsonl_line_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl(ALPACA, ALPACA, "{'single': 'quotes'}"), encoding="utf-8")
    with pytest.raises(
        DatasetError, match=rf"^{re.escape(str(path))}: line 3: invalid JSON: Expecting property name"
    ):
        load_dataset_file(path)


def test_non_object_rows(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([ALPACA, ALPACA, "just a string"]), encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: row 2: expected an object, got string$"):
        load_dataset_file(path)
    path.write_text(json.dumps("nope"), encoding="utf-8")
    with pytest.raises(
        DatasetError, match="expected a list of objects at the top level, got string"
    ):
        load_dataset_file(path)


def test_json_object_wrapping_one_list(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"version": 2, "data": [ALPACA, ALPACA]}), encoding="utf-8")
    loaded = load_dataset_file(path)
    assert (loaded.format, len(loaded.examples), loaded.examples[1].source) == (
        "alpaca",
        2,
        "row 1",
    )
    path.write_text(json.dumps({"train": [ALPACA], "test": [ALPACA]}), encoding="utf-8")
    with pytest.raises(DatasetError, match="exactly one list field.*'train', 'test'"):
        load_dataset_file(path)
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}), encoding="utf-8")
    with pytest.raises(DatasetError, match="single conversation"):
        load_dataset_file(path)


def test_bom_and_crlf_are_handled(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes('\ufeffinstruction,output\r\n"multi\r\nline",ok\r\nb,c\r\n'.encode())
    loaded = load_dataset_file(path)
    assert loaded.format == "alpaca"
    assert loaded.examples[0].messages[0].content == "multi\r\nline"
    assert [e.source for e in loaded.examples] == ["line 2", "line 3"]
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl(ALPACA).replace("\n", "\r\n").encode())
    assert load_dataset_file(path).examples[0].messages[1].content == "Hi!"


def test_csv_row_with_too_many_values(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("instruction,output\na,b\nhello, world,c\n", encoding="utf-8")
    with pytest.raises(
        DatasetError, match=rf"^{re.escape(str(path))}: line 3: row has 3 values but the header has 2"
    ):
        load_dataset_file(path)


def test_csv_short_row_lacks_trailing_fields_and_duplicate_columns_fail(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("instruction,input,output\na,,b\nc\n", encoding="utf-8")
    with pytest.raises(
        DatasetError, match=rf"^{re.escape(str(path))}: line 3, field 'output': missing required field"
    ):
        load_dataset_file(path)
    path.write_text("text,text\na,b\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: line 1: duplicate column names: text"):
        load_dataset_file(path)


def test_jsonl_line_separator_inside_a_string_is_not_a_line_break(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(json.dumps({"text": "a\u2028b"}, ensure_ascii=False).encode() + b"\n")
    assert load_dataset_file(path).examples[0].text == "a\u2028b"


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(DatasetError, match="nope.jsonl: file not found"):
        load_dataset_file(tmp_path / "nope.jsonl")
    (tmp_path / "d.xlsx").write_bytes(b"PK")
    with pytest.raises(DatasetError, match="unsupported file type '.xlsx'"):
        load_dataset_file(tmp_path / "d.xlsx")


def test_read_records_limit(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl(*[ALPACA] * 10), encoding="utf-8")
    records = read_records(path, limit=3)
    assert [r.label for r in records] == ["line 1", "line 2", "line 3"]
    assert isinstance(records[0], RawRecord) and records[0].data == ALPACA


# --- preview ---------------------------------------------------------------------------------


def test_preview_shows_bad_rows_without_raising(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [ALPACA, {"instruction": "x", "output": 3}, "{broken", *[ALPACA] * 30]
    path.write_text(jsonl(*rows), encoding="utf-8")
    p = preview(path, n=5)
    assert p.format == "alpaca" and p.format_error is None
    assert len(p.records) == 5 and p.sources == [f"line {i}" for i in range(1, 6)]
    assert p.records[1] == {"instruction": "x", "output": 3}
    assert p.records[2] == {"value": "{broken"}
    assert [e.source for e in p.examples] == ["line 1", "line 4", "line 5"]
    assert [(i.row, i.field) for i in p.issues] == [("line 2", "output"), ("line 3", None)]


def test_preview_of_unknown_format_reports_instead_of_raising(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl({"q": "a"}, {"q": "b"}), encoding="utf-8")
    p = preview(path)
    assert p.format is None and "cannot tell the dataset format" in p.format_error
    assert p.records == [{"q": "a"}, {"q": "b"}] and p.examples == []


def test_preview_of_txt_and_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "d.txt"
    path.write_text("one\n\ntwo\n\nthree\n", encoding="utf-8")
    p = preview(path, n=2)
    assert p.records == [{"text": "one"}, {"text": "two"}] and p.format == "text"
    path = tmp_path / "d.parquet"
    pq.write_table(
        pa.Table.from_pylist([{"text": f"t{i}"} for i in range(50)]), path, row_group_size=7
    )
    p = preview(path, n=10)
    assert [e.text for e in p.examples] == [f"t{i}" for i in range(10)]
    assert p.sources[-1] == "row 9"


def test_preview_still_raises_for_an_unreadable_file(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xff\xfe{}\n")
    with pytest.raises(DatasetError, match="line 1: not valid UTF-8"):
        preview(path)


# --- split -----------------------------------------------------------------------------------


def test_split_is_deterministic_and_partitions():
    items = list(range(100))
    train, evals = split_train_eval(items, 0.1, seed=7)
    assert (len(train), len(evals)) == (90, 10)
    assert sorted(train + evals) == items and not set(train) & set(evals)
    assert train == sorted(train) and evals == sorted(evals)  # original order kept
    assert split_train_eval(items, 0.1, seed=7) == (train, evals)
    assert split_train_eval(items, 0.1, seed=8)[1] != evals


@pytest.mark.parametrize(
    ("n", "fraction", "n_eval"),
    [
        (2, 0.01, 1),
        (3, 0.9, 2),
        (1, 0.5, 0),
        (0, 0.5, 0),
        (10, 0.0, 0),
        (10, 0.25, 2),
    ],
)
def test_split_sizes(n, fraction, n_eval):
    train, evals = split_train_eval(list(range(n)), fraction, seed=0)
    assert (len(train), len(evals)) == (n - n_eval, n_eval)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2])
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="eval_fraction"):
        split_train_eval([1, 2, 3], fraction, seed=0)


# --- errors ----------------------------------------------------------------------------------


def test_dataset_error_attributes_text_and_pickling():
    err = DatasetError("/data/sets/data.jsonl", 7, "output", "expected a string, got list")
    assert isinstance(err, ValueError)
    assert str(err) == "/data/sets/data.jsonl: line 7, field 'output': expected a string, got list"
    assert (err.file, err.row, err.field, err.location) == (
        "/data/sets/data.jsonl",
        7,
        "output",
        "line 7",
    )
    row = DatasetError("d.parquet", 3, None, "expected an object, got list", unit="row")
    assert str(row) == "d.parquet: row 3: expected an object, got list"
    assert str(DatasetError("d.csv", None, None, "file is empty")) == "d.csv: file is empty"
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.row, again.field) == (str(err), 7, "output")
    assert str(err.to_issue()) == "line 7, field 'output': expected a string, got list"
