"""Dataset flags (--map, --var, --text-split, --on-bad-rows, --bad-rows-limit) and the dataset
check that refuses a job before any run folder exists; in-process, no worker starts."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from cli_support import Result, run_dirs
from library_support import write_safetensors

from studio.cli.job_building import build_train_job
from studio.cli.main import build_parser, main
from studio.core import protocol
from studio.core.job_schema import JobError


def cli(*argv: str) -> Result:
    """``lora-studio ARGV`` in this process: exit status and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's refusals
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich keeps whole values on one line


def qa_csv(path: Path) -> Path:
    path.write_text("question,answer\nWho are you?,Captain Lora\nName a sea.,The Baltic\n", encoding="utf-8")
    return path


def train_job(*argv: str):
    return build_train_job(build_parser().parse_args(["train", *argv]))


# --- flags -> job fields -------------------------------------------------------------------------

def test_dataset_flags_set_the_job_fields():
    job = train_job("--map", "instruction=question,output=answer", "--text-split", "line", "--on-bad-rows", "stop",
                    "--bad-rows-limit", "0.05", "--var", "name=Captain Lora", "--var", "greeting=Ahoy, matey = hi")
    ds = job.dataset
    assert ds.columns == {"instruction": "question", "output": "answer"}
    assert (ds.text_split, ds.on_bad_rows, ds.bad_rows_limit) == ("line", "stop", 0.05)
    assert ds.variables == {"name": "Captain Lora", "greeting": "Ahoy, matey = hi"}  # commas and '=' kept


def test_map_adds_to_the_job_files_columns(tmp_path):
    job_file = tmp_path / "job.toml"
    job_file.write_text('kind = "train"\n[dataset]\ncolumns = {instruction = "q", system = "sys"}\n',
                        encoding="utf-8")
    job = train_job("--job", str(job_file), "--map", "instruction=question", "--map", "output=answer")
    assert job.dataset.columns == {"instruction": "question", "system": "sys", "output": "answer"}


def test_estimate_takes_the_same_flags():
    args = build_parser().parse_args(["estimate", "--map", "instruction=question", "--on-bad-rows", "skip"])
    assert build_train_job(args).dataset.columns == {"instruction": "question"}


def test_an_out_of_range_limit_is_a_job_problem():
    with pytest.raises(JobError, match="dataset.bad_rows_limit"):
        train_job("--bad-rows-limit", "2")


@pytest.mark.parametrize(("flags", "words"), [
    (["--map", "garbage"], "FIELD=COLUMN"),
    (["--map", "instruction="], "FIELD=COLUMN"),
    (["--var", "novalue"], "NAME=VALUE"),
    (["--on-bad-rows", "ignore"], "invalid choice"),
    (["--text-split", "words"], "invalid choice"),
    (["--format", "csv"], "invalid choice"),
])
def test_bad_flag_values_exit_2_with_the_form_expected(flags, words, studio_home):
    result = cli("train", *flags)
    assert result.returncode == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert run_dirs(studio_home) == []


# --- refused before a run folder -----------------------------------------------------------------

def test_a_missing_dataset_makes_no_run(tmp_path, studio_home):
    missing = tmp_path / "nowhere.jsonl"
    result = cli("train", "--dataset", str(missing), "--device", "cpu")
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert f"dataset.path is {missing}, which does not exist" in result.flat
    assert "check the path" in result.output
    assert "fix or remove that row" not in result.output
    assert run_dirs(studio_home) == []


def test_an_undetectable_format_offers_the_map_flag_and_makes_no_run(tmp_path, studio_home):
    result = cli("train", "--dataset", str(qa_csv(tmp_path / "qa.csv")), "--device", "cpu")
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "--map instruction=question,output=answer" in result.flat
    assert run_dirs(studio_home) == []


def test_a_wrong_format_offers_the_map_flag(tmp_path, studio_home):
    result = cli("train", "--dataset", str(qa_csv(tmp_path / "qa.csv")), "--format", "alpaca", "--device", "cpu")
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "the columns look like alpaca: add --map instruction=question,output=answer" in result.flat
    assert run_dirs(studio_home) == []


def test_a_mapped_column_the_file_lacks_is_named(tmp_path, studio_home):
    result = cli("train", "--dataset", str(qa_csv(tmp_path / "qa.csv")), "--map", "instruction=quesion,output=answer",
                 "--device", "cpu")
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "'quesion'" in result.flat
    assert "its columns: question, answer" in result.flat
    assert run_dirs(studio_home) == []


def test_too_many_bad_rows_refuse_before_a_run(tmp_path, studio_home):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c"}\n{"instruction": "e", "output": "f"}\n',
                   encoding="utf-8")
    result = cli("train", "--dataset", str(bad), "--device", "cpu")
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "bad.jsonl" in result.output and "line 2" in result.output and "bad_rows_limit" in result.flat
    assert run_dirs(studio_home) == []


def test_resume_checks_the_runs_dataset_too(tmp_path, studio_home):
    """A run whose data file was moved since is refused with the path, its run left as it was."""
    run = studio_home / "runs" / "20250101-000000-x"
    (run / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-1" / "trainer_state.json").write_text('{"global_step": 1}', encoding="utf-8")
    write_safetensors(run / "checkpoints" / "checkpoint-1" / "adapter_model.safetensors", {"w": [2, 2]})  # a whole one
    job = {"kind": "train", "dataset": {"path": str(tmp_path / "moved.jsonl")}}
    (run / "job.json").write_text(json.dumps(job), encoding="utf-8")
    result = cli("train", "--resume", str(run))
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "moved.jsonl, which does not exist" in result.flat
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "job.json"]


# --- datasets inspect with the same settings -----------------------------------------------------

def test_inspect_previews_through_the_mapping(tmp_path):
    result = cli("datasets", "inspect", str(qa_csv(tmp_path / "qa.csv")), "--map", "instruction=question,output=answer")
    assert result.returncode == 0, result.output
    assert "format alpaca (--map instruction=question,output=answer), 2 rows, 2 good, 0 bad" in result.flat
    assert "Captain Lora" in result.stdout


def test_inspect_offers_the_mapping_when_the_format_cant_be_told(tmp_path):
    result = cli("datasets", "inspect", str(qa_csv(tmp_path / "qa.csv")))
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "--map instruction=question,output=answer" in result.flat


def _rows(path: Path, good: int, bad: int) -> Path:
    rows = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(good)] + [{"instruction": "x"}] * bad
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_inspect_says_bad_rows_would_be_skipped(tmp_path):
    result = cli("datasets", "inspect", str(_rows(tmp_path / "d.jsonl", 199, 1)))
    assert result.returncode == 0, result.output
    assert "200 rows, 199 good, 1 bad" in result.flat
    assert "training would skip these 1 rows" in result.flat
    assert "line 200" in result.output


def test_inspect_says_the_file_would_be_refused_and_lists_the_rows(tmp_path):
    result = cli("datasets", "inspect", str(_rows(tmp_path / "d.jsonl", 90, 10)), "--max-issues", "3")
    assert result.returncode == protocol.EXIT_DATA, result.output
    assert "training would refuse this file" in result.flat
    assert result.stdout.count("bad row") == 3
    assert "and 7 more" in result.output


def test_inspect_follows_the_limit_and_stop_flags(tmp_path):
    path = _rows(tmp_path / "d.jsonl", 90, 10)
    assert cli("datasets", "inspect", str(path), "--bad-rows-limit", "0.2").returncode == 0
    assert cli("datasets", "inspect", str(_rows(tmp_path / "e.jsonl", 199, 1)), "--on-bad-rows",
               "stop").returncode == protocol.EXIT_DATA


def test_inspect_reads_a_job_files_dataset_settings(tmp_path):
    data = qa_csv(tmp_path / "qa.csv")
    job_file = tmp_path / "job.toml"
    job_file.write_text(f'kind = "train"\n[dataset]\npath = "{data}"\n'
                        'columns = {instruction = "question", output = "answer"}\n', encoding="utf-8")
    result = cli("datasets", "inspect", "--job", str(job_file))
    assert result.returncode == 0, result.output
    assert "format alpaca" in result.stdout


def test_inspect_needs_a_file_or_a_job():
    result = cli("datasets", "inspect")
    assert result.returncode == protocol.EXIT_BAD_JOB, result.output
    assert "--job" in result.output


@pytest.mark.integration  # starts a worker
def test_a_question_answer_csv_trains_with_the_offered_map(tmp_path, studio_home, tiny_model_dir):
    from cli_support import run_cli, tiny_train_args

    data = tmp_path / "qa.csv"
    data.write_text("question,answer\n" + "".join(f"Question {i}?,Answer {i}.\n" for i in range(24)), encoding="utf-8")
    result = run_cli(*tiny_train_args(tiny_model_dir, max_steps=2, save_steps=0), "--dataset", str(data),
                     "--map", "instruction=question,output=answer", timeout=300)
    assert result.returncode == 0, result.output
    (run_dir,) = run_dirs(studio_home)
    job = json.loads((run_dir / "job.json").read_text(encoding="utf-8"))
    assert job["dataset"]["columns"] == {"instruction": "question", "output": "answer"}
    assert (run_dir / "adapter").is_dir()
