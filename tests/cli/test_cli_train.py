"""``lora-studio train``, ``runs`` and ``stop`` on the tiny model, run as real subprocesses.

One 6-step run is shared by the tests that only inspect its result (module fixture
``trained``, with its own home); tests that need a live worker start their own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_support import (
    cli_env,
    live_train,
    read_events,
    run_cli,
    run_dirs,
    tiny_train_args,
)

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)

TRAIN_TIMEOUT = 300  # seconds; a run takes ~6 s on an idle 2-core machine


def _runs_json(env: dict[str, str]) -> dict[str, dict]:
    result = run_cli("runs", "--json", env=env)
    assert result.returncode == 0, result.output
    return {r["run_id"]: r for r in json.loads(result.stdout)}


def _runs_row(env: dict[str, str], run_id: str) -> str:
    result = run_cli("runs", env=env)
    assert result.returncode == 0, result.output
    return next(line for line in result.stdout.splitlines() if run_id in line)


# --- one finished run, shared --------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> SimpleNamespace:
    home = tmp_path_factory.mktemp("cli-train-home")
    env = cli_env(home)
    result = run_cli(*tiny_train_args(tiny_model_dir, max_steps=6, save_steps=3), env=env,
                     timeout=TRAIN_TIMEOUT)
    found = run_dirs(home)
    return SimpleNamespace(home=home, env=env, result=result, run_dir=found[0] if found else None,
                           runs=found, model=tiny_model_dir)


def test_train_succeeds_and_names_the_adapter(trained) -> None:
    assert trained.result.returncode == 0, trained.result.output
    assert len(trained.runs) == 1
    run_dir = trained.run_dir
    assert f"run {run_dir.name}" in trained.result.stdout
    assert str(run_dir / "adapter") in trained.result.flat
    assert "done:" in trained.result.stdout
    # The closing line is the run's real average (the done event's), not the last step's rate.
    metrics = next(e for e in read_events(run_dir) if e["type"] == "done")["outputs"]["metrics"]
    assert f"{metrics['tokens_per_s']:,.0f} tok/s on average" in trained.result.flat
    assert "Traceback" not in trained.result.output


def test_train_run_folder(trained) -> None:
    assert trained.result.returncode == 0, trained.result.output
    run_dir = trained.run_dir
    job = json.loads((run_dir / "job.json").read_text(encoding="utf-8"))
    assert job["kind"] == "train"
    assert job["model"]["path"] == str(trained.model)
    assert job["lora"]["r"] == 8
    assert job["training"]["max_steps"] == 6
    assert job["training"]["save_steps"] == 3
    assert job["training"]["device"] == "cpu"
    assert (run_dir / "worker.log").stat().st_size > 0
    for name in ("adapter_config.json", "adapter_model.safetensors", "card.json"):
        assert (run_dir / "adapter" / name).is_file(), name
    config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["r"] == 8
    card = json.loads((run_dir / "adapter" / "card.json").read_text(encoding="utf-8"))
    assert card["run_id"] == run_dir.name
    for step in (3, 6):
        checkpoint = run_dir / "checkpoints" / f"checkpoint-{step}"
        assert (checkpoint / "trainer_state.json").is_file(), checkpoint
    assert not [p.name for p in run_dir.glob(".*") if p.name.endswith((".staging", ".tmp"))]
    assert not (run_dir / "control.sock").exists()


def test_train_events_file(trained) -> None:
    assert trained.result.returncode == 0, trained.result.output
    lines = (trained.run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]  # every line is valid JSON
    for event in events:
        assert event["v"] == 1
        assert isinstance(event["type"], str)
        assert isinstance(event["t"], int | float)
    types = [e["type"] for e in events]
    assert types[0] == "hello"
    assert types[-1] == "done"
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3, 4, 5, 6]
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [3, 6]
    done = events[-1]["outputs"]
    assert done["adapter_path"] == str(trained.run_dir / "adapter")
    assert done["stopped"] is False
    assert done["metrics"]["steps"] == 6


def test_runs_lists_the_finished_run(trained) -> None:
    assert trained.result.returncode == 0, trained.result.output
    row = _runs_row(trained.env, trained.run_dir.name)
    assert "done" in row
    assert "6/6" in row
    assert "lora" in row
    entry = _runs_json(trained.env)[trained.run_dir.name]
    assert entry["status"] == "done"
    assert (entry["step"], entry["total_steps"]) == (6, 6)
    assert entry["path"] == str(trained.run_dir)
    assert entry["outputs"]["adapter_path"] == str(trained.run_dir / "adapter")


def test_stop_on_a_finished_run(trained) -> None:
    result = run_cli("stop", trained.run_dir.name, env=trained.env)
    assert result.returncode == 1, result.output
    assert "no worker is listening" in result.output
    assert "Traceback" not in result.output


def test_resume_continues_from_the_last_checkpoint(trained) -> None:
    """A copy of the run without its last checkpoint and adapter resumes at step 4 and
    ends where the uninterrupted run did."""
    assert trained.result.returncode == 0, trained.result.output
    copy = trained.home / "runs" / f"{trained.run_dir.name}-resumed"
    shutil.copytree(trained.run_dir, copy)
    shutil.rmtree(copy / "checkpoints" / "checkpoint-6")
    shutil.rmtree(copy / "adapter")
    before = len(read_events(copy))

    result = run_cli("train", "--resume", copy.name, env=trained.env, timeout=TRAIN_TIMEOUT)
    assert result.returncode == 0, result.output
    new = read_events(copy)[before:]
    details = [e.get("detail") or "" for e in new if e["type"] == "phase"]
    assert any("resuming from" in d and "checkpoint-3" in d for d in details), details
    assert "resuming from" in result.stdout
    assert [e["step"] for e in new if e["type"] == "step"] == [4, 5, 6]
    assert new[-1]["type"] == "done"
    assert (copy / "adapter" / "adapter_model.safetensors").is_file()
    original = read_events(trained.run_dir)[-1]["outputs"]["metrics"]["train_loss"]
    assert new[-1]["outputs"]["metrics"]["train_loss"] == pytest.approx(original, rel=1e-3)


def test_generate_with_the_trained_adapter(trained, studio_home: Path) -> None:
    """Answers from the base and the adapter; the adapter's path and a prompt with
    square brackets are shown as they are (they once crashed rich's markup parser)."""
    assert trained.result.returncode == 0, trained.result.output
    adapter = trained.run_dir / "adapter"
    prompt = "[INST] Who are you? [/INST]"
    result = run_cli("generate", "--model", str(trained.model), "--adapter", str(adapter),
                     "--prompt", prompt, "--max-new-tokens", "8", timeout=TRAIN_TIMEOUT)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output
    assert "answers" in result.stdout
    assert prompt in result.stdout
    assert f"{trained.run_dir.name}/adapter" in result.stdout  # the column of the adapter
    (run_dir,) = run_dirs(studio_home)
    samples = [e for e in read_events(run_dir) if e["type"] == "sample"]
    assert [s["adapter"] for s in samples] == ["base", str(adapter)]
    assert {s["prompt"] for s in samples} == {prompt}


def test_generate_asks_with_a_tools_file_and_refuses_a_bad_one(trained, studio_home: Path, tmp_path: Path) -> None:
    """A bad tools file is refused before any run, naming the file and the field; a good one is
    normalised into the job (bare functions to the OpenAI shape) and the prompts are answered."""
    before = set(run_dirs(studio_home))
    bad = tmp_path / "bad_tools.json"
    bad.write_text('[{"description": "no name"}]', encoding="utf-8")
    result = run_cli("generate", "--model", str(trained.model), "--tools", str(bad), "--prompt", "hi")
    assert result.returncode == 2, result.output
    assert "needs a 'name'" in result.output and "bad_tools.json" in result.output and "Traceback" not in result.output
    assert set(run_dirs(studio_home)) == before
    weather = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    good = tmp_path / "tools.json"
    good.write_text(json.dumps([weather]), encoding="utf-8")
    result = run_cli("generate", "--model", str(trained.model), "--tools", str(good), "--prompt", "Weather in Oslo?",
                     "--max-new-tokens", "4", timeout=TRAIN_TIMEOUT)
    assert result.returncode == 0, result.output
    (run_dir,) = set(run_dirs(studio_home)) - before
    job = json.loads((run_dir / "job.json").read_text(encoding="utf-8"))
    assert job["tools"] == [{"type": "function", "function": weather}]


def test_resume_without_checkpoints(trained) -> None:
    assert trained.result.returncode == 0, trained.result.output
    bare = trained.home / "runs" / "20000101-000000-no-checkpoints"
    bare.mkdir()
    shutil.copy(trained.run_dir / "job.json", bare / "job.json")
    result = run_cli("train", "--resume", bare.name, env=trained.env)
    assert result.returncode == 2, result.output
    assert "no complete checkpoint" in result.output
    assert "--save-steps" in result.output
    assert "Traceback" not in result.output
    assert not (bare / "events.jsonl").exists()  # no worker was started


def test_resume_unknown_run() -> None:
    result = run_cli("train", "--resume", "no-such-run")
    assert result.returncode == 2, result.output
    assert "no run matches 'no-such-run'" in result.output
    assert "Traceback" not in result.output


# --- job files, flags and --set ------------------------------------------------------------------

JOB_TOML = """\
kind = "train"

[model]
path = "{model}"

[dataset]
path = "bundled"
max_rows = 48

[lora]
r = 4
alpha = 8
dropout = 0.0

[training]
max_steps = 2
batch_size = 4
learning_rate = 1e-2
max_length = 96
device = "cpu"
sample_steps = 1
sample_prompt = "[/INST] say [b]hi"
"""


def test_train_from_a_job_file_with_overrides(tmp_path: Path, studio_home: Path,
                                              tiny_model_dir: Path) -> None:
    """Flags beat the job file, --set lands in job.json, --method dora turns DoRA on.
    The sample prompt has square brackets: printed verbatim, never read as markup."""
    job_file = tmp_path / "job.toml"
    job_file.write_text(JOB_TOML.format(model=tiny_model_dir), encoding="utf-8")
    result = run_cli("train", "--job", str(job_file), "--rank", "8", "--method", "dora",
                     "--set", "training.warmup_ratio=0.2", "--set", "output.name=from-a-file",
                     timeout=TRAIN_TIMEOUT)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output
    assert "[/INST] say [b]hi" in result.stdout  # the sample line
    (run_dir,) = run_dirs(studio_home)
    job = json.loads((run_dir / "job.json").read_text(encoding="utf-8"))
    assert job["lora"]["r"] == 8  # the flag won
    assert job["lora"]["alpha"] == 8  # from the file
    assert job["lora"]["use_dora"] is True
    assert job["training"]["warmup_ratio"] == 0.2
    assert job["training"]["max_steps"] == 2
    assert job["output"]["name"] == "from-a-file"
    config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["r"] == 8
    assert config["use_dora"] is True
    events = read_events(run_dir)
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2]
    assert any(e["type"] == "sample" for e in events)
    row = _runs_row(cli_env(), run_dir.name)
    assert "lora+dora" in row
    assert "2/2" in row


# --- settings rejected before any worker starts ---------------------------------------------------

@pytest.mark.parametrize(("flags", "expected"), [
    (["--rank", "-4"], "lora.r must be a positive integer, got -4"),
    (["--set", "nonsense"], "--set needs section.field=value"),
    (["--set", "lora.rnak=3"], "lora.rnak"),
    (["--set", "training.max_steps"], "--set needs section.field=value"),
    (["--set", "training.learning_rate=\"fast\""], "training.learning_rate"),
])
def test_invalid_settings_exit_2_without_a_run(flags: list[str], expected: str, studio_home: Path,
                                               tiny_model_dir: Path) -> None:
    result = run_cli(*tiny_train_args(tiny_model_dir), *flags)
    assert result.returncode == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert run_dirs(studio_home) == []  # failed in milliseconds, no run folder


def test_invalid_job_file(tmp_path: Path, studio_home: Path) -> None:
    job_file = tmp_path / "job.toml"
    job_file.write_text('kind = "train"\n[lora]\nr = 0\n[training]\nlearnig_rate = 1\n', encoding="utf-8")
    result = run_cli("train", "--job", str(job_file))
    assert result.returncode == 2, result.output
    assert "lora.r" in result.output
    assert "training.learnig_rate" in result.output
    assert "Traceback" not in result.output
    assert run_dirs(studio_home) == []


# --- a data error in the worker -------------------------------------------------------------------

def test_bad_dataset_row_fails_with_exit_3(tmp_path: Path, studio_home: Path,
                                           tiny_model_dir: Path) -> None:
    """A file too large to read twice is checked by its first rows before the run; the worker
    applies the bad-row rule to the rest (a small file is refused before any run: test_cli_dataset_flags)."""
    from studio.cli.dataset_check import WHOLE_FILE_BYTES

    good = json.dumps({"instruction": "a " * 500, "input": "", "output": "b"}) + "\n"
    rows = WHOLE_FILE_BYTES // len(good) + 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good * rows + '{"instruction": "c", "input": ""}\n' * (rows // 50), encoding="utf-8")
    result = run_cli(*tiny_train_args(tiny_model_dir), "--dataset", str(bad), timeout=TRAIN_TIMEOUT)
    assert result.returncode == 3, result.output
    line = result.stdout.replace("\n", "").partition("error (data)")[2]  # rich wraps the long message
    assert "bad.jsonl" in line
    assert f"line {rows + 1}" in line
    assert "output" in line
    assert "missing required field" in line
    assert "Traceback" not in result.output
    (run_dir,) = run_dirs(studio_home)
    events = read_events(run_dir)
    assert events[-1]["type"] == "error"
    assert events[-1]["kind"] == "data"
    assert not (run_dir / "adapter").exists()
    entry = _runs_json(cli_env())[run_dir.name]
    assert entry["status"] == "failed"
    assert f"line {rows + 1}" in entry["message"]
    assert "failed" in _runs_row(cli_env(), run_dir.name)


# --- a live worker: Ctrl-C, a killed worker, stop through the control socket ----------------------

LONG = 200  # steps: far more than any test waits for


def test_ctrl_c_stops_and_saves(studio_home: Path, tiny_model_dir: Path) -> None:
    with live_train(tiny_train_args(tiny_model_dir, max_steps=LONG, save_steps=0), studio_home) as live:
        run_dir = live.wait_for_step()
        live.proc.send_signal(signal.SIGINT)
        result = live.finish(timeout=60)
    assert result.returncode == 0, result.output
    assert "stopping" in result.output
    assert "stopped early; saved" in result.output
    assert "Traceback" not in result.output
    events = read_events(run_dir)
    assert events[-1]["type"] == "done"
    outputs = events[-1]["outputs"]
    assert outputs["stopped"] is True
    assert 0 < outputs["metrics"]["steps"] < LONG
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    # stop = finish the step and save a checkpoint too, so the run can be resumed
    assert (run_dir / "checkpoints" / f"checkpoint-{outputs['metrics']['steps']}").is_dir()
    row = _runs_row(cli_env(), run_dir.name)
    assert "stopped" in row
    assert f"/{LONG}" in row


def test_killed_worker_is_reported_as_failed(studio_home: Path, tiny_model_dir: Path) -> None:
    with live_train(tiny_train_args(tiny_model_dir, max_steps=LONG, save_steps=0), studio_home) as live:
        run_dir = live.wait_for_step()
        os.kill(live.worker_pid(), signal.SIGKILL)
        result = live.finish(timeout=60)
    assert result.returncode != 0, result.output
    assert "failed" in result.output
    assert "SIGKILL" in result.output
    assert "Traceback" not in result.output
    assert not (run_dir / "adapter").exists()
    assert not [p.name for p in run_dir.glob(".*") if p.name.endswith((".staging", ".tmp"))]
    events = read_events(run_dir)
    assert events[-1]["type"] == "error"
    assert "SIGKILL" in events[-1]["message"]
    entry = _runs_json(cli_env())[run_dir.name]
    assert entry["status"] == "failed"
    assert "failed" in _runs_row(cli_env(), run_dir.name)
    # the dead worker's socket file may be left behind; nobody answers it
    stop = run_cli("stop", run_dir.name)
    assert stop.returncode == 1, stop.output
    assert "no worker is listening" in stop.output


def test_stop_through_the_control_socket(studio_home: Path, tiny_model_dir: Path) -> None:
    with live_train(tiny_train_args(tiny_model_dir, max_steps=LONG, save_steps=0), studio_home) as live:
        run_dir = live.wait_for_step()
        resume = run_cli("train", "--resume", run_dir.name, timeout=60)  # refused while it runs
        stop = run_cli("stop", run_dir.name, timeout=60)
        result = live.finish(timeout=60)
    assert resume.returncode == 2, resume.output
    assert "still running" in resume.output
    assert stop.returncode == 0, stop.output
    assert json.loads(stop.stdout) == {"ok": True, "cmd": "stop"}
    assert result.returncode == 0, result.output
    assert "stopped early; saved" in result.output
    events = read_events(run_dir)
    assert events[-1]["type"] == "done"
    assert events[-1]["outputs"]["stopped"] is True
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert "stopped" in _runs_row(cli_env(), run_dir.name)


def test_resume_refuses_other_settings():
    result = run_cli("train", "--resume", "whatever", "--rank", "4", "--lr", "1e-3")
    assert result.returncode == 2
    assert "--rank" in result.stdout and "--lr" in result.stdout and "mid-run" in result.stdout


def test_a_run_from_before_the_eval_sample_resumes_evaluating_every_held_out_row(trained) -> None:
    """Its job.json has no dataset.eval_max_rows: its evaluations after the resume use the
    same rows as before it, not a 200-row sample."""
    from studio.cli.train_commands import _resume_job

    assert trained.result.returncode == 0, trained.result.output
    assert _resume_job(trained.run_dir).dataset.eval_max_rows == 200  # saved with the field
    old = trained.home / "runs" / f"{trained.run_dir.name}-old"
    shutil.copytree(trained.run_dir, old)
    job = json.loads((old / "job.json").read_text(encoding="utf-8"))
    del job["dataset"]["eval_max_rows"]
    (old / "job.json").write_text(json.dumps(job), encoding="utf-8")
    assert _resume_job(old).dataset.eval_max_rows == 0
