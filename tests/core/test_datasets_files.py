"""Dataset files as real exporters write them (datasets' to_json and save_to_disk, Arrow
files, Hub-style parquet shards), folders of them, and raw text cut into documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.datasets import SUFFIXES, DatasetError, load_dataset_file, preview, read_records
from studio.core.datasets.folders import EXPECTED, folder_files, source_files
from studio.core.datasets.raw_text import choose_split

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ALPACA = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(10)]


def texts(records) -> list:
    return [r.data["instruction"] if isinstance(r.data, dict) else r.data for r in records]


def write_parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_arrow(path: Path, rows: list[dict], *, stream: bool = True, chunk: int = 3) -> Path:
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink:
        writer = (pa.ipc.new_stream if stream else pa.ipc.new_file)(sink, table.schema)
        writer.write_table(table, max_chunksize=chunk)
        writer.close()
    return path


# --- .json files that hold JSON Lines --------------------------------------------------------


def test_json_lines_in_a_json_file_as_datasets_writes_it(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "train.json"
    datasets.Dataset.from_list(ALPACA).to_json(path)
    assert path.read_text().startswith('{"instruction":"q0"')  # one object per line, no list
    loaded = load_dataset_file(path)
    assert (loaded.format, len(loaded.examples)) == ("alpaca", 10)
    assert [e.source for e in loaded.examples[:3]] == ["line 1", "line 2", "line 3"]


def test_json_lines_in_a_json_file_keeps_row_errors_on_their_line(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("\n" + json.dumps(ALPACA[0]) + "\n\n{broken\n" + json.dumps(ALPACA[1]) + "\n")
    records = read_records(path)
    assert [r.label for r in records] == ["line 2", "line 4", "line 5"]
    assert records[1].error is not None and "invalid JSON" in str(records[1].error)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # A real document's errors are reported as before.
        ('[\n  {"a": 1},\n  {"a": 2} {"a": 3}\n]', "line 3: invalid JSON: Expecting ',' delimiter"),
        ('{\n "data": [1, 2]\n}\n{"x": 1}\n', "line 4: invalid JSON: Extra data"),
        ('[{"a": 1}]\n[{"a": 2}]\n', "line 2: invalid JSON: Extra data"),  # lines of lists: not rows
        ('{"a": 1, "b": }\n{"a": 2}\n', "line 1: invalid JSON: Expecting value"),
        ('{"text": "one record"}\n', "expected a list of objects, or an object with exactly one list field"),
    ],
)
def test_errors_in_a_json_document_are_reported_as_before(tmp_path, content, message):
    path = tmp_path / "d.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=re.escape(message)):
        read_records(path)


def test_one_line_json_document_is_still_a_document(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"data": ALPACA}))  # json.dump's default: all on one line
    assert [r.label for r in read_records(path)][:2] == ["row 0", "row 1"]
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(ALPACA[0]).encode() + b"\r\n" + json.dumps(ALPACA[1]).encode())
    assert texts(read_records(path)) == ["q0", "q1"]  # with a BOM and CRLF: JSON Lines


def test_json_lines_preview_reads_only_the_start(tmp_path):
    path = tmp_path / "d.json"
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in ALPACA) + b'{"instruction": "\xff"}\n')
    assert texts(read_records(path, limit=3)) == ["q0", "q1", "q2"]  # the bad byte at the end is not reached
    with pytest.raises(DatasetError, match="line 11: not valid UTF-8"):
        read_records(path)


# --- Arrow files and save_to_disk folders ----------------------------------------------------


def test_save_to_disk_folder_reads_every_shard_in_order(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(ALPACA).save_to_disk(folder, num_shards=3)
    assert len(list(folder.glob("data-*-of-00003.arrow"))) == 3
    records = read_records(folder)
    assert texts(records) == [f"q{i}" for i in range(10)]
    assert [r.label for r in records] == [f"row {i}" for i in range(10)]
    assert texts(read_records(folder, limit=5)) == [f"q{i}" for i in range(5)]  # across the first shards
    assert source_files(folder) == [folder / f"data-0000{i}-of-00003.arrow" for i in range(3)]
    loaded = preview(folder, n=4)
    assert loaded.format == "alpaca" and loaded.sources == ["row 0", "row 1", "row 2", "row 3"]


def test_dataset_dict_folder_reads_the_train_split_and_says_so(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ALPACA)
    folder = tmp_path / "dd"
    datasets.DatasetDict({"test": ds.select(range(2)), "train": ds.select(range(2, 10))}).save_to_disk(folder)
    assert texts(read_records(folder)) == [f"q{i}" for i in range(2, 10)]
    assert folder_files(folder).note == "read the 'train' split; the folder also holds 'test'"
    # The only split is taken whatever its name; several without 'train' is a question.
    only = tmp_path / "only"
    datasets.DatasetDict({"validation": ds.select(range(3))}).save_to_disk(only)
    assert (len(read_records(only)), folder_files(only).note) == (3, "read the 'validation' split")
    several = tmp_path / "several"
    datasets.DatasetDict({"test": ds, "validation": ds}).save_to_disk(several)
    with pytest.raises(DatasetError, match=r"splits 'test', 'validation' and none is 'train'; give the folder"):
        read_records(several)


@pytest.mark.parametrize("stream", [True, False], ids=["ipc-stream", "ipc-file"])
def test_single_arrow_file(tmp_path, stream):
    path = write_arrow(tmp_path / "d.arrow", ALPACA, stream=stream)
    records = read_records(path)
    assert texts(records) == [f"q{i}" for i in range(10)] and records[-1].label == "row 9"
    assert texts(read_records(path, limit=4)) == ["q0", "q1", "q2", "q3"]
    assert load_dataset_file(path).format == "alpaca"
    assert ".arrow" in SUFFIXES


@pytest.mark.parametrize("data", [b"not arrow at all", b"ARROW1\x00\x00garbage", b"\xff\xff\xff\xff\x10\x00"])
def test_broken_arrow_file(tmp_path, data):
    path = tmp_path / "d.arrow"
    path.write_bytes(data)
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: not a readable Arrow file"):
        read_records(path)


def test_save_to_disk_folder_missing_a_shard(tmp_path):
    folder = tmp_path / "saved"
    folder.mkdir()
    write_arrow(folder / "data-00000-of-00002.arrow", ALPACA[:5])
    state = {"_data_files": [{"filename": f"data-0000{i}-of-00002.arrow"} for i in range(2)]}
    (folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(DatasetError, match="state.json lists data-00001-of-00002.arrow, which the folder lacks"):
        read_records(folder)
    (folder / "state.json").write_text("{damaged")  # then the shards' names give the order
    write_arrow(folder / "data-00001-of-00002.arrow", ALPACA[5:])
    assert texts(read_records(folder)) == [f"q{i}" for i in range(10)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10_000), flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
       stream=st.booleans())
def test_damaged_arrow_file_is_refused_not_a_crash(tmp_path_factory, cut, flips, stream):
    # pyarrow trusts IPC data; unvalidated, a flipped offset crashed the process in to_pylist.
    path = tmp_path_factory.mktemp("arrow") / "d.arrow"
    write_arrow(path, [{"text": f"t{i}" * i, "n": [i, i]} for i in range(30)], stream=stream, chunk=7)
    data = bytearray(path.read_bytes())
    for at, value in flips:
        data[at % len(data)] = value
    path.write_bytes(bytes(data[: max(1, len(data) - cut % len(data))]))
    for limit in (None, 3):
        try:
            read_records(path, limit=limit)
        except DatasetError as exc:
            assert str(path) in str(exc)


# --- folders of shards (a Hub download) ------------------------------------------------------


def test_hub_parquet_shards_read_as_one_dataset(tmp_path):
    folder = tmp_path / "hub"
    for i in range(3):
        write_parquet(folder / "data" / f"train-0000{i}-of-00003.parquet", ALPACA[i * 4 : i * 4 + 4])
    write_parquet(folder / "data" / "test-00000-of-00001.parquet", [{"instruction": "t", "output": "t"}])
    (folder / "README.md").write_text("---\nconfigs: ...\n---\n")
    (folder / ".cache" / "huggingface").mkdir(parents=True)
    write_parquet(folder / ".cache" / "huggingface" / "stray.parquet", [{"x": 1}])  # hidden: never read
    records = read_records(folder)
    assert texts(records) == [f"q{i}" for i in range(10)]
    assert [r.label for r in records] == [f"row {i}" for i in range(10)]  # 0-based across shards
    assert texts(read_records(folder, limit=6)) == [f"q{i}" for i in range(6)]
    assert folder_files(folder).note == "read the 'train' split; the folder also holds 'test'"
    assert preview(folder, n=3).format == "alpaca"


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        # nested one level under data/, natural order (2 before 10)
        ({f"data/train/{i}.parquet": [i] for i in (10, 2, 1)}, [1, 2, 10]),
        # no split named: every shard
        ({"part-1.parquet": [1], "part-0.parquet": [0]}, [0, 1]),
        # the Hub's parquet conversion: config/split/n.parquet
        ({"default/train/0000.parquet": [0], "default/validation/0000.parquet": [9]}, [0]),
        # the only split named is taken; unnamed files beside named ones are left out
        ({"data/validation-0.parquet": [5], "data/extra.parquet": [6]}, [5]),
        # parquet preferred over the same rows as .jsonl
        ({"train.parquet": [1], "train.jsonl": [2]}, [1]),
        # .jsonl shards (and metadata .json files beside them are not data)
        ({"train-0.jsonl": [3], "train-1.jsonl": [4], "dataset_infos.json": None}, [3, 4]),
        # save_to_disk's cache-style names
        ({"json-train.arrow": [7], "json-test.arrow": [8]}, [7]),
    ],
    ids=["nested", "unsplit", "config-split", "only-split", "parquet-first", "jsonl", "arrow-names"],
)
def test_folder_layouts(tmp_path, layout, expected):
    folder = tmp_path / "f"
    for name, values in layout.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"text": f"doc {v}"} for v in values or []]
        if path.suffix == ".parquet":
            write_parquet(path, rows)
        elif path.suffix == ".arrow":
            write_arrow(path, rows)
        elif values is None:
            path.write_text(json.dumps({"default": {"features": {}}}))
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r.data["text"] for r in read_records(folder)] == [f"doc {v}" for v in expected]


def test_bad_line_in_a_jsonl_shard_names_the_shard_and_its_line(tmp_path):
    folder = tmp_path / "f"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train-0.jsonl").write_text(json.dumps(ALPACA[0]) + "\n")
    (folder / "data" / "train-1.jsonl").write_text(json.dumps(ALPACA[1]) + "\n{oops\n")
    records = read_records(folder)
    assert [r.label for r in records] == ["row 0", "row 1", "row 2"]
    assert str(records[2].error).startswith(f"{folder}: row 2: data/train-1.jsonl line 2: invalid JSON")
    loaded = preview(folder)
    assert [i.row for i in loaded.issues] == ["row 2"]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, EXPECTED + "; found none"),
        ({"notes.md": "x", "images/a.png": "x", "LICENSE.txt": "x"}, EXPECTED + "; found none"),
        ({"test-0.parquet": 1, "validation-0.parquet": 1},
         "the files are of the splits 'test', 'validation' and none is 'train'; give the path"),
        ({"en/train-0.parquet": 1, "fr/train-0.parquet": 1},
         "the .parquet files are in several folders (en, fr), which may be different subsets"),
        ({"train-0.parquet": 0}, "the folder's data files hold no records"),
    ],
    ids=["empty", "no-data-files", "no-train", "subsets", "only-empty-shards"],
)
def test_folder_that_is_not_a_dataset_says_what_a_folder_must_hold(tmp_path, layout, message):
    folder = tmp_path / "adir"
    folder.mkdir()
    for name, rows in layout.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet" and rows == 0:
            path.write_bytes(b"")  # an empty shard is skipped, not refused
        elif path.suffix == ".parquet":
            write_parquet(path, [{"text": "x"}])
        else:
            path.write_text(rows)
    with pytest.raises(DatasetError) as info:
        read_records(folder)
    assert str(info.value).startswith(f"{folder}: ")
    assert message in str(info.value) and "unsupported file type" not in str(info.value)


def test_broken_shard_is_named_by_its_own_path(tmp_path):
    folder = tmp_path / "f"
    write_parquet(folder / "train-0.parquet", ALPACA[:2])
    (folder / "train-1.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(folder / 'train-1.parquet'))}: not a readable Parquet"):
        read_records(folder)
    assert texts(read_records(folder, limit=2)) == ["q0", "q1"]  # a preview stops before it


# --- messages name the whole path ------------------------------------------------------------


def test_messages_show_the_whole_path_as_given(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.jsonl").write_text(json.dumps(ALPACA[0]) + "\n{broken\n")
    messages = []
    for name in ("a", "b"):
        with pytest.raises(DatasetError) as info:
            load_dataset_file(tmp_path / name / "train.jsonl")
        messages.append(str(info.value))
    assert messages[0].startswith(f"{tmp_path / 'a' / 'train.jsonl'}: line 2: invalid JSON")
    assert messages[0] != messages[1]
    assert str(DatasetError("data/train.jsonl", 2, None, "bad")) == "data/train.jsonl: line 2: bad"  # relative stays


# --- raw text ---------------------------------------------------------------------------------

POEM = "Roses are red,\nviolets are blue.\n"
PARAGRAPHS = "First doc,\nline two.\n\n\n  \nSecond doc.\n\nThird doc,\nline two.\n"


@pytest.mark.parametrize(
    ("content", "split", "expected"),
    [
        (PARAGRAPHS, "paragraph", [(1, "First doc,\nline two."), (6, "Second doc."), (8, "Third doc,\nline two.")]),
        (PARAGRAPHS, "line", [(1, "First doc,"), (2, "line two."), (6, "Second doc."), (8, "Third doc,"),
                              (9, "line two.")]),
        (PARAGRAPHS, "file", [(1, "First doc,\nline two.\n\n\n  \nSecond doc.\n\nThird doc,\nline two.")]),
        ("\n\n" + POEM + "\n\n", "file", [(3, "Roses are red,\nviolets are blue.")]),
        (PARAGRAPHS, "auto", [(1, "First doc,\nline two."), (6, "Second doc."), (8, "Third doc,\nline two.")]),
        (POEM, "auto", [(1, "Roses are red,\nviolets are blue.")]),  # short: one document
        ("one\n\ntwo\n\nthree\n", "auto", [(1, "one"), (3, "two"), (5, "three")]),
        ("".join(f"sentence {i}\r\n" for i in range(25)), "auto", [(i + 1, f"sentence {i}") for i in range(25)]),
    ],
)
def test_text_split(tmp_path, content, split, expected):
    path = tmp_path / "d.txt"
    path.write_bytes(content.encode())
    records = read_records(path, text_split=split)
    assert [(r.row, r.data) for r in records] == expected
    assert all(r.label == f"line {r.row}" for r in records)


def test_a_megabyte_of_text_without_blank_lines_is_not_one_document(tmp_path):
    path = tmp_path / "big.txt"
    line = "A sentence of the corpus that goes on for a while, like sentences do.\n"
    path.write_text(line * (2**20 // len(line) + 1))
    records = read_records(path)
    assert len(records) > 10_000 and records[1].label == "line 2"
    assert [r.data for r in read_records(path, limit=2)] == [line.strip()] * 2
    # Three long lines are three documents too, not one.
    path.write_text(("word " * 100_000 + "\n") * 3)
    assert len(read_records(path)) == 3


def test_auto_decides_the_same_for_a_preview_and_a_full_read(tmp_path):
    # Paragraphs in the first MiB, a long blank-free stretch after it: one rule for both reads.
    path = tmp_path / "d.txt"
    path.write_text("a\nb\n\n" * (2**20 // 4) + "x\n" * 1000)
    assert read_records(path, limit=3)[1].data == "a\nb"
    assert read_records(path)[1].data == "a\nb"
    assert choose_split(b"x\n" * 30, whole=True) == "line"
    assert choose_split(b"x\n" * 10, whole=True) == "file"
    assert choose_split(b"x\n\ny\n", whole=True) == "paragraph"


@pytest.mark.parametrize("split", ["auto", "line", "paragraph"])
def test_text_limit_reads_only_the_start(tmp_path, split):
    path = tmp_path / "d.txt"
    path.write_bytes(("para one\nstill one\n\n" * 50).encode() + b"bad \xff byte\n")
    assert len(read_records(path, limit=2, text_split=split)) == 2  # the bad byte is not reached
    with pytest.raises(DatasetError, match=r"line 151: not valid UTF-8"):
        read_records(path, text_split=split)


def test_unknown_text_split_is_refused(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("x\n")
    with pytest.raises(ValueError, match="text_split must be 'auto', 'line', 'paragraph' or 'file'"):
        read_records(path, text_split="sentence")  # type: ignore[arg-type]


# --- the CLI's entry: preview of folders ------------------------------------------------------


def test_preview_of_a_folder_never_says_unsupported_file_type(tmp_path):
    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(DatasetError, match=re.escape(EXPECTED)):
        preview(folder)
