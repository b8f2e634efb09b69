"""The dataset check before Start: the file, its columns and format, and the bad-row rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.datasets import DatasetError, load_dataset_file, load_job_dataset
from studio.core.datasets.job_check import HEAD_ROWS, check_file, check_job_dataset, rows_verdict
from studio.core.jobs import DatasetSettings

WHOLE = 1 << 20
GOOD = {"instruction": "Say hi.", "output": "Hi!"}
BAD = {"instruction": "Say hi."}  # no output


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def qa_csv(path: Path, rows: int = 3) -> Path:
    path.write_text("question,answer\n" + "".join(f"q{i},a{i}\n" for i in range(rows)), encoding="utf-8")
    return path


def check(path: Path | str, whole: int = WHOLE, **fields):
    return check_job_dataset(DatasetSettings(path=str(path), **fields), whole_file_bytes=whole)


def only(result) -> tuple[str, str]:
    assert len(result.issues) == 1, result.issues
    return result.issues[0].field, result.issues[0].message


# --- the file ------------------------------------------------------------------------------------

def test_a_missing_file_names_the_path_and_what_to_do(tmp_path):
    field, message = only(check(tmp_path / "nowhere.jsonl"))
    assert field == "dataset.path"
    assert str(tmp_path / "nowhere.jsonl") in message
    assert "does not exist" in message
    assert "check the path" in message
    assert "row" not in message  # not "fix or remove that row"


def test_a_folder_without_data_files_is_refused(tmp_path):
    (tmp_path / "notes.md").write_text("hi", encoding="utf-8")
    field, message = only(check(tmp_path))
    assert field == "dataset.path"
    assert "folder" in message


@pytest.mark.parametrize("name", ["data.xlsx", "data"])
def test_an_unreadable_file_type_is_refused(tmp_path, name):
    (tmp_path / name).write_text("x", encoding="utf-8")
    field, message = only(check(tmp_path / name))
    assert field == "dataset.path"
    assert ".jsonl" in message and "can't be read" in message


def test_a_device_is_not_read():
    field, message = only(check("/dev/null"))
    assert field == "dataset.path"
    assert "not a regular file" in message


def test_a_binary_file_is_a_clear_problem(tmp_path):
    path = tmp_path / "blob.jsonl"
    path.write_bytes(bytes(range(256)) * 4)
    field, message = only(check(path))
    assert "blob.jsonl" in message
    assert "UTF-8" in message or "JSON" in message


def test_the_bundled_sample_passes_whole():
    result = check("bundled")
    assert result.ok, result.issues
    assert result.format == "alpaca"
    assert result.loaded is not None and result.loaded.rows_total == 327


# --- columns and format --------------------------------------------------------------------------

def test_an_undetectable_format_offers_the_guessed_mapping(tmp_path):
    result = check(qa_csv(tmp_path / "qa.csv"))
    field, message = only(result)
    assert field == "dataset.format"
    assert "question" in message
    assert result.guess is not None
    assert (result.guess.format, result.guess.as_option()) == ("alpaca", "instruction=question,output=answer")


def test_the_mapping_makes_it_trainable(tmp_path):
    result = check(qa_csv(tmp_path / "qa.csv"), columns={"instruction": "question", "output": "answer"})
    assert result.ok, result.issues
    assert result.format == "alpaca"
    assert result.loaded is not None
    assert [e.messages[-1].content for e in result.loaded.examples] == ["a0", "a1", "a2"]


def test_a_mapped_column_the_file_lacks_is_named_with_the_files_columns(tmp_path):
    field, message = only(check(qa_csv(tmp_path / "qa.csv"), columns={"instruction": "quesion", "output": "answer"}))
    assert field == "dataset.columns"
    assert "'quesion'" in message
    assert "question, answer" in message


def test_a_mapped_field_no_format_reads_suggests_the_close_one(tmp_path):
    field, message = only(check(qa_csv(tmp_path / "qa.csv"), columns={"instrution": "question"}))
    assert field == "dataset.columns"
    assert "did you mean 'instruction'" in message


def test_a_mapping_on_plain_text_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("one paragraph\n\nanother\n", encoding="utf-8")
    field, message = only(check(path, columns={"text": "body"}))
    assert field == "dataset.columns"
    assert "leave dataset.columns empty" in message


# --- the bad-row rule ----------------------------------------------------------------------------

def test_a_few_bad_rows_are_skipped_and_listed(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [GOOD] * 199 + [BAD])
    result = check(path)
    assert result.ok, result.issues
    assert result.loaded is not None and result.loaded.rows_skipped == 1


def test_too_many_bad_rows_refuse_the_file(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [GOOD] * 9 + [BAD])
    field, message = only(check(path))
    assert field == ""
    assert "1 of 10 rows" in message and "bad_rows_limit" in message


def test_stop_refuses_at_a_bad_row_even_in_a_large_file(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [GOOD] * 5 + [BAD] + [GOOD] * 500)
    field, message = only(check(path, whole=0, on_bad_rows="stop"))
    assert "line 6" in message and "'stop'" in message


def test_a_large_file_is_read_by_its_first_rows_only(tmp_path):
    """The worker applies the whole rule to a large file; the check only reads its start."""
    rows = [GOOD] * (HEAD_ROWS + 10) + [BAD] * 50
    result = check(jsonl(tmp_path / "d.jsonl", rows), whole=0)
    assert result.ok, result.issues
    assert result.loaded is None
    assert result.format == "alpaca"


def test_a_large_file_whose_first_rows_are_all_bad_is_refused(tmp_path):
    path = qa_csv(tmp_path / "qa.csv", rows=HEAD_ROWS + 50)
    result = check(path, whole=0, format="alpaca")
    field, message = only(result)
    assert f"none of the first {HEAD_ROWS} rows" in message
    assert result.guess is not None and result.guess.as_option() == "instruction=question,output=answer"


def test_quick_reads_no_parquet(tmp_path):
    """A click on Start does not import pyarrow: a Parquet file is left to the worker."""
    path = tmp_path / "d.parquet"
    path.write_bytes(b"not parquet at all")
    settings_ = DatasetSettings(path=str(path))
    assert check_job_dataset(settings_, whole_file_bytes=WHOLE, quick=True).ok
    assert not check_job_dataset(settings_, whole_file_bytes=WHOLE).ok


def test_check_file_leaves_rows_to_the_caller(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [GOOD, BAD, BAD])
    result, rows = check_file(DatasetSettings(path=str(path)))
    assert result.ok and result.format == "alpaca" and len(rows) == 3


# --- rows_verdict is the rule load_job_dataset applies -------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(st.booleans(), min_size=1, max_size=40),
       on_bad_rows=st.sampled_from(["skip", "stop"]),
       limit=st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 1.0]))
def test_the_verdict_is_the_loaders_rule(tmp_path, bad, on_bad_rows, limit):
    path = jsonl(tmp_path / "d.jsonl", [BAD if b else GOOD for b in bad])
    job = DatasetSettings(path=str(path), format="alpaca", on_bad_rows=on_bad_rows, bad_rows_limit=limit)
    every = load_dataset_file(path, "alpaca", on_error="skip", bad_rows_limit=None)
    verdict = rows_verdict(job, every)
    try:
        load_job_dataset(job)
    except DatasetError:
        assert verdict is not None
    else:
        assert verdict is None
