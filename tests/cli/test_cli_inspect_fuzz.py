"""``datasets inspect`` with any flag values and any file: an exit status and a sentence, never a traceback.

Exit statuses: 0 (the file trains), 2 (a flag or job file can't be used), 3 (a data error, as
the worker would exit on the same file). Runs in-process, so a few hundred cases take seconds.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.cli.main import main

EXITS = (0, 2, 3)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inspect-fuzz")
    made = {
        "good.jsonl": '{"instruction": "a", "output": "b"}\n' * 3,
        "bad.jsonl": '{"instruction": "a", "output": "b"}\n{"instruction": 5}\n{not json\n',
        "qa.csv": "question,answer\nq,a\nr,b\n",
        "ragged.csv": "a,b\n1,2,3\n\"open\n",
        "notes.txt": "one\n\ntwo {{name}}\n",
        "empty.jsonl": "",
        "list.json": "[1, 2, 3]",
        "one.json": '{"messages": []}',
        "pairs.jsonl": '{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "chosen": "b", "rejected": "b"}\n',
        "kto.csv": "prompt,completion,label\nq,a,true\nq,b,maybe\n",
        "job.toml": 'kind = "train"\n[dataset]\ncolumns = "instruction=question"\n',
        "merge.toml": 'kind = "merge"\nadapters = ["a", "b"]\nweights = [1, 1]\n',
        "broken.toml": "kind = [",
    }
    for name, text in made.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "blob.jsonl").write_bytes(bytes(range(256)) * 8)
    (root / "blob.bin").write_bytes(b"\x00\xff" * 100)
    (root / "blob.parquet").write_bytes(b"PAR1 not really")
    (root / "tokenizer.json").write_text("{}", encoding="utf-8")
    (root / "empty-folder").mkdir()
    return {p.name: p for p in root.iterdir()} | {"root": root}


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue()


# What a shell can pass: no NUL, no lone surrogates.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
NUMBER = st.one_of(st.integers(-10, 10**6).map(str), st.sampled_from(["0", "-3", "1e3", "nan", "inf", "", " 5"]))
SHARE = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), st.sampled_from(["-0.1", "1.5", "x"]))
MAP = st.one_of(TEXT, st.sampled_from(["instruction=question,output=answer", "instruction=quesion", "garbage",
                                       "=", ",", "a=b", "text=body", "instrution=question"]))


def flag_values(files: dict[str, Path]) -> st.SearchStrategy[list[str]]:
    paths = st.sampled_from(sorted(str(p) for p in files.values()) + ["bundled", "/dev/null", "/nowhere.jsonl",
                                                                       "/", "relative/missing.csv"])
    options = {
        "--format": st.one_of(st.sampled_from(["auto", "alpaca", "text", "foo", "messages", "preference", "kto"]),
                              TEXT),
        "--rows": NUMBER,
        "--max-issues": NUMBER,
        "--max-length": NUMBER,
        "--map": MAP,
        "--var": st.one_of(TEXT, st.just("name=Captain Lora")),
        "--text-split": st.one_of(st.sampled_from(["auto", "line", "paragraph", "file"]), TEXT),
        "--on-bad-rows": st.one_of(st.sampled_from(["skip", "stop"]), TEXT),
        "--bad-rows-limit": SHARE,
        "--job": st.one_of(paths, TEXT),
        "--tokenizer": st.one_of(paths, TEXT),
    }
    pairs = st.lists(st.sampled_from(sorted(options)).flatmap(lambda f: options[f].map(lambda v: [f, v])),
                     max_size=5)
    file = st.one_of(st.just([]), paths.map(lambda p: [p]), TEXT.map(lambda t: [t]))
    return st.tuples(file, pairs).map(lambda fp: fp[0] + [word for pair in fp[1] for word in pair])


@pytest.mark.parametrize("argv", [
    ["--format", "foo"], ["--rows", "-3"], ["--max-length", "0"], ["--map", "garbage"], ["--max-issues", "x"],
    ["--bad-rows-limit", "nan"], ["--var", "="], ["--job", "/nowhere.toml"], ["--text-split", "words"],
])
@pytest.mark.parametrize("file", ["good.jsonl", "bad.jsonl", "qa.csv", "root", "empty-folder", "blob.jsonl",
                                  "blob.bin", "blob.parquet", "empty.jsonl", "/dev/null", "tokenizer.json",
                                  "pairs.jsonl", "kto.csv"])
def test_the_named_cases(files, file, argv):
    path = str(files.get(file, file))
    code, output = run(["datasets", "inspect", path, *argv, "--tokenizer", str(files["tokenizer.json"])])
    assert code in EXITS, output
    assert "Traceback" not in output


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_any_flags(files, monkeypatch, data):
    monkeypatch.setenv("COLUMNS", "120")
    argv = data.draw(flag_values(files))
    code, output = run(["datasets", "inspect", *argv])
    assert code in EXITS, (argv, output)
    assert "Traceback" not in output
