"""Fuzzing the dataset readers: whatever a file holds (broken JSON, wrong encodings,
huge lines, missing or extra fields, non-string content, mixed formats), loading it ends
in rows or in a DatasetError that names the file, never in another exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.datasets import DatasetError, load_dataset_file

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SUFFIXES = [".jsonl", ".json", ".csv", ".txt", ".parquet"]
KEYS = ["instruction", "input", "output", "system", "conversations", "from", "value", "messages", "role",
        "content", "prompt", "completion", "text", "type", "junk", ""]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=40), st.sampled_from(["user", "assistant", "human", "gpt", "system", "tool"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)
rows = st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=5), max_size=6)


def load_or_refuse(path: Path, on_error: str) -> None:
    try:
        loaded = load_dataset_file(path, on_error=on_error)
    except DatasetError as exc:
        text = str(exc)
        assert path.name in text, text  # the file is always named
        assert "Traceback" not in text
        return
    assert loaded.examples  # success means usable rows
    for issue in loaded.issues:
        assert issue.row and issue.reason  # each skipped row is named, with why


@FUZZ
@given(data=st.binary(max_size=600), suffix=st.sampled_from(SUFFIXES), on_error=st.sampled_from(["raise", "skip"]))
def test_any_bytes_in_any_file_type(tmp_path_factory, data, suffix, on_error):
    path = tmp_path_factory.mktemp("fuzz") / f"data{suffix}"
    path.write_bytes(data)
    load_or_refuse(path, on_error)


@FUZZ
@given(records=rows, on_error=st.sampled_from(["raise", "skip"]), as_array=st.booleans())
def test_any_json_structure(tmp_path_factory, records, on_error, as_array):
    folder = tmp_path_factory.mktemp("fuzz")
    if as_array:
        path = folder / "data.json"
        path.write_text(json.dumps(records), encoding="utf-8")
    else:
        path = folder / "data.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    load_or_refuse(path, on_error)


@FUZZ
@given(header=st.lists(st.sampled_from(KEYS), min_size=1, max_size=4),
       cells=st.lists(st.lists(st.text(max_size=30), max_size=5), max_size=5))
def test_any_csv(tmp_path_factory, header, cells):
    import csv

    path = tmp_path_factory.mktemp("fuzz") / "data.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(cells)
    load_or_refuse(path, "skip")


@pytest.mark.parametrize("content", [
    b"\xff\xfe" + "{\"text\": \"utf-16\"}\n".encode("utf-16-le"),  # wrong encoding
    b"{\"text\": \"" + b"x" * 5_000_000 + b"\"}\n",  # a 5 MB line
    b"",  # empty
    b"\n\n\n",  # blank lines only
    b"{\"text\": \"ok\"}\n{\"instruction\": \"mixed formats\", \"output\": \"x\"}\n",
])
def test_known_hard_cases(tmp_path, content):
    path = tmp_path / "data.jsonl"
    path.write_bytes(content)
    load_or_refuse(path, "raise")
    load_or_refuse(path, "skip")


@FUZZ
@given(columns=st.dictionaries(st.sampled_from(KEYS[:-1]),
                               st.one_of(st.lists(st.text(max_size=20), min_size=3, max_size=3),
                                         st.lists(st.integers(-2**62, 2**62), min_size=3, max_size=3),
                                         st.lists(st.none(), min_size=3, max_size=3)),
                               min_size=1, max_size=4))
def test_any_parquet_table(tmp_path_factory, columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path_factory.mktemp("fuzz") / "data.parquet"
    pq.write_table(pa.table(columns), path)
    load_or_refuse(path, "skip")
