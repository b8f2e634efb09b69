"""The job benchmark: whole commands timed from start to saved adapter, phases itemised.

It runs for real on a tiny random Llama and generated alpaca rows: the script, the
plain path and the fast path (which on the CPU is the plain path with its own
choices), each as its own process. The Unsloth comparison runs only where Unsloth's
packages are (a GPU machine, with the carried ones): here, its command and how a run
without Unsloth is recorded."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from studio.engine import job_bench


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("job-bench")
    out = workdir / "jobs.jsonl"
    tokenizer = job_bench.default_tokenizer()
    results = job_bench.run(["job-tiny-alpaca-40"], ["script", "plain", "cold"], workdir, tokenizer, out)
    return results, out


@pytest.mark.slow
def test_every_mode_ends_with_an_adapter_and_itemised_phases(bench):
    results, out = bench
    assert [r["mode"] for r in results] == ["script", "plain", "cold"]
    for result in results:
        assert result["exit"] == 0, result.get("error")
        phases = result["phases"]
        assert set(phases) == set(job_bench.PHASES)
        assert all(seconds >= 0 for seconds in phases.values()), phases
        # The phases cover the whole command: nothing is left out of the itemisation.
        assert sum(phases.values()) == pytest.approx(result["wall_s"], abs=0.5)
        assert result["steps"] == 9  # 36 training rows (40 less 10% held out) in batches of 4
    assert [json.loads(line)["mode"] for line in out.read_text().splitlines()] == ["script", "plain", "cold"]


@pytest.mark.slow
def test_the_worker_runs_report_their_losses_and_path(bench):
    results, _out = bench
    for result in results[1:]:
        assert result["train_loss"] > 0 and result["eval_loss"] > 0
        assert "packing" in result["path"]
        assert result["step_ms"] > 0


@pytest.mark.slow
def test_script_phases_read_its_phase_lines():
    lines = "\n".join(f"PHASE {name} {t}" for name, t in [("start", 100.5), ("imported", 103.0), ("loaded", 105.0),
                                                          ("data", 106.0), ("first_step", 110.0),
                                                          ("trained", 130.0), ("evaluated", 131.0),
                                                          ("saved", 131.5)])
    out = job_bench.script_phases(lines + '\nRESULT {"steps": 21, "train_loss": 2.0}', 100.0, 132.0)
    assert out["phases"] == {"start": 3.0, "load": 2.0, "data": 1.0, "first_step": 4.0, "steps": 20.0,
                             "eval": 1.0, "save": 0.5, "exit": 0.5}
    assert out["step_ms"] == 1000.0


def test_a_worker_runs_phases_and_numbers_come_from_its_events():
    from studio.core import protocol
    from studio.core.outputs import TrainMetrics, TrainOutputs

    def event(kind: str, t: float, **fields) -> dict:
        return {"type": kind, "t": t, **fields}

    outputs = TrainOutputs(adapter_path="a", metrics=TrainMetrics(train_loss=1.5, eval_loss=1.75, tokens_trained=3000,
                                                                  tokens_per_s=900.0, peak_memory_bytes=3 * 2**30))
    done = json.loads(protocol.encode(protocol.done(outputs)))  # as the worker writes it
    events = [event("hello", 101.0), event("phase", 102.0, name="loading_model"),
              event("phase", 104.0, name="preparing_data"),
              event("phase", 105.0, name="preparing_data", detail="fast path: packing, eager"),
              event("phase", 106.0, name="training"), *[event("step", 107.0 + i, step=i + 1) for i in range(3)],
              event("phase", 110.0, name="saving"), {**done, "t": 111.0}]
    out = job_bench.worker_phases(events, 100.0, 112.0)
    assert out["phases"] == {"start": 2.0, "load": 2.0, "data": 2.0, "first_step": 1.0, "steps": 2.0, "eval": 1.0,
                             "save": 1.0, "exit": 1.0}
    assert (out["train_loss"], out["eval_loss"], out["average_tokens_per_s"]) == (1.5, 1.75, 900.0)
    assert out["steady_tokens_per_s"] == 1000 and out["peak_gib"] == 3.0  # 2 of 3 steps' tokens in 2 s
    assert out["path"] == "packing, eager" and out["to_hello_s"] == 1.0 and out["graphed_steps"] is None


def test_the_unsloth_mode_runs_the_unsloth_script_with_the_jobs_arguments(tmp_path):
    assert "unsloth" in job_bench.MODES and "unsloth" not in job_bench.DEFAULT_MODES  # a comparison, asked for
    model, data, out = tmp_path / "model", tmp_path / "rows.json", tmp_path / "out"
    argv = job_bench.command("unsloth", job_bench.JOB_CONFIGS["job-1b-alpaca-1k"], model, data, out)
    assert argv == [sys.executable, "-m", "studio.engine.unsloth_job", "--model", str(model), "--data", str(data),
                    "--out", str(out)]
    qlora = job_bench.command("unsloth", job_bench.JOB_CONFIGS["job-8b-qlora-alpaca-1k"], model, data, out)
    assert qlora == argv + ["--qlora"]
    # The same arguments as the plain script's: the same job.
    assert job_bench.command("script", job_bench.JOB_CONFIGS["job-1b-alpaca-1k"], model, data, out)[3:] == argv[3:]


def test_the_unsloth_folder_goes_first_on_the_commands_path(tmp_path):
    env = {"PYTHONPATH": "/tmp/site:/repo", job_bench.UNSLOTH_PATH_VARIABLE: "/tmp/unsloth_site"}
    extra = job_bench.unsloth_environment(env, tmp_path)
    assert extra["PYTHONPATH"] == "/tmp/unsloth_site:/tmp/site:/repo"
    assert extra["UNSLOTH_COMPILE_LOCATION"] == str(tmp_path / "unsloth_compiled_cache")  # not the working folder
    assert extra["HF_HUB_OFFLINE"] == "1"
    assert "PYTHONPATH" not in job_bench.unsloth_environment({}, tmp_path)  # unset: the path as it is


def test_nothing_else_in_studio_imports_unsloth():
    """Unsloth is a comparison, never a dependency: only engine.unsloth_job imports it."""
    package = Path(job_bench.__file__).resolve().parents[1]
    importers, trl_importers = set(), set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("unsloth", "unsloth_zoo") or n.endswith("unsloth_job") for n in names):
                importers.add(path.relative_to(package).as_posix())
            if any(n.split(".")[0] == "trl" for n in names):  # a dependency now, for DPO, in one place
                trl_importers.add(path.relative_to(package).as_posix())
    assert importers == {"engine/unsloth_job.py"}
    assert trl_importers <= {"engine/unsloth_job.py", "engine/preference_training.py"}


def _fake_job(monkeypatch, tmp_path):
    """run_mode without the model and data: the unsloth script stops at its first import."""
    monkeypatch.setattr(job_bench, "model_folder", lambda workdir, shape, tokenizer: tmp_path / "model")
    monkeypatch.setattr(job_bench, "data_file", lambda workdir, kind, rows: tmp_path / "rows.json")


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("unsloth") is not None, reason="Unsloth is installed here")
def test_without_unsloth_the_mode_is_recorded_as_failed_with_the_import_error(monkeypatch, tmp_path, capsys):
    _fake_job(monkeypatch, tmp_path)
    monkeypatch.delenv(job_bench.UNSLOTH_PATH_VARIABLE, raising=False)
    out = tmp_path / "jobs.jsonl"
    [result] = job_bench.run(["job-tiny-alpaca-40"], ["unsloth"], tmp_path / "work", tmp_path, out)
    assert result["exit"] == job_bench.UNSLOTH_UNAVAILABLE and result["unavailable"]
    assert "No module named 'unsloth'" in result["error"]
    assert json.loads(out.read_text())["error"] == result["error"]
    printed = capsys.readouterr().out
    # One line with the reason, not the traceback.
    assert printed.strip() == ("job-tiny-alpaca-40       unsloth FAILED (exit 3): unsloth cannot be imported: "
                               "ModuleNotFoundError: No module named 'unsloth'")


@pytest.mark.integration
def test_the_unsloth_mode_imports_from_the_folder_named_and_reports_why_it_cannot(monkeypatch, tmp_path):
    from studio.engine import unsloth_job

    assert job_bench.UNSLOTH_UNAVAILABLE == unsloth_job.UNAVAILABLE
    _fake_job(monkeypatch, tmp_path)
    folder = tmp_path / "unsloth_site"
    (folder / "unsloth").mkdir(parents=True)
    (folder / "unsloth" / "__init__.py").write_text(
        'raise NotImplementedError("Unsloth cannot find any torch accelerator? You need a GPU.")\n')
    monkeypatch.setenv(job_bench.UNSLOTH_PATH_VARIABLE, str(folder))
    result = job_bench.run_mode("job-tiny-alpaca-40", "unsloth", tmp_path / "work", tmp_path)
    assert result["exit"] == job_bench.UNSLOTH_UNAVAILABLE
    assert result["error"].rstrip().endswith("unsloth cannot be imported: NotImplementedError: Unsloth cannot find "
                                             "any torch accelerator? You need a GPU.")
    assert job_bench.report_line(result, {}).endswith("You need a GPU.")
