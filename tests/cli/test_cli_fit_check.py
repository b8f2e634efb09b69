"""``lora-studio train`` holds the job against where it will run before starting a worker.

The same rule as the Train page (core.memory_fit): the card for a GPU run, the available RAM
for a CPU run; a job that will not fit is refused with the numbers and what to change, unless
``--force``. And a QLoRA job on a machine without a GPU (core.machine_fit) says how to fix it.
The worker is stubbed out (``run_job``): these tests are about what happens before it.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from studio.cli import train_commands
from studio.cli.main import main
from studio.core import gpus, memory_fit
from studio.core.jobs import TrainJob
from studio.core.models import inspect_model

GIB = 2**30
RTX_4060 = gpus.Gpu(0, "NVIDIA GeForce RTX 4060", 8 * GIB)


@pytest.fixture
def started(monkeypatch) -> list:
    """The jobs ``train`` would have handed a worker."""
    jobs: list = []

    def run_job(job, run_dir, console, **_kwargs):
        jobs.append(job)
        return SimpleNamespace(final=None, exit_code=0), []

    monkeypatch.setattr(train_commands, "run_job", run_job)
    monkeypatch.setenv("COLUMNS", "400")
    return jobs


def no_runs(home: Path) -> bool:
    return not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_318_gib_against_an_8_gb_card_is_refused_before_any_run_unless_forced(started, studio_home, monkeypatch,
                                                                                capsys):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (RTX_4060,))
    big = ["train", "--method", "dora", "--batch-size", "64", "--max-length", "2048"]
    assert main(big) == 2
    out = capsys.readouterr().out
    assert "Will not fit: this job needs about 318." in out and "the NVIDIA GeForce RTX 4060 has 8.0 GiB" in out
    assert "Try: " in out and "accumulation" in out and "--force starts it anyway" in out
    assert started == [] and no_runs(studio_home)
    assert main([*big, "--force"]) == 0
    assert len(started) == 1 and started[0].training.batch_size == 64  # as given: nothing changed
    assert main(["train", "--method", "dora", "--batch-size", "1", "--max-length", "2048"]) == 0  # fits
    assert len(started) == 2


def test_a_cpu_run_is_held_against_the_available_ram(started, studio_home, monkeypatch, capsys):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    monkeypatch.setattr(memory_fit, "available_ram", lambda: (2 * GIB, 8 * GIB))
    assert main(["train", "--max-length", "1024"]) == 2  # the bundled .gguf: no tokenizer to measure rows with
    out = capsys.readouterr().out
    assert "training on the CPU needs about" in out and "2.0 GiB available of 8.0 GiB" in out
    assert "QLoRA" not in out and started == [] and no_runs(studio_home)


def test_on_the_cpu_the_rows_are_measured_before_refusing(started, tiny_model_dir, tmp_path, monkeypatch, capsys):
    """Rows are padded to the longest in their batch: a worst case (every row at max length) that
    does not fit is measured before the run is refused."""
    rows = tmp_path / "short.jsonl"
    rows.write_text("".join(json.dumps({"instruction": f"Say hi {i}", "output": "hi"}) + "\n" for i in range(40)),
                    encoding="utf-8")
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    job = TrainJob()
    job.model.path, job.dataset.path = str(tiny_model_dir), str(rows)
    job.training.batch_size, job.training.max_length = 256, 8192
    model = inspect_model(tiny_model_dir)
    longest = train_commands._longest_row(job, model)
    assert longest is not None and longest < 100
    target = memory_fit.Target("cpu", 0, "this machine's RAM")
    worst = memory_fit.check(job, model.config, target).needed
    measured = memory_fit.check(job, model.config, target, longest_row=longest).needed
    room = (worst + measured) // 2
    monkeypatch.setattr(memory_fit, "available_ram", lambda: (room, 4 * room))
    args = ["train", "--model", str(tiny_model_dir), "--dataset", str(rows), "--batch-size", "256",
            "--max-length", "8192"]
    assert main(args) == 0 and len(started) == 1
    monkeypatch.setattr(memory_fit, "available_ram", lambda: (measured // 2, 4 * room))  # over what is free
    assert main(args) == 0 and "May not fit" in capsys.readouterr().out and len(started) == 2  # warned, started
    monkeypatch.setattr(memory_fit, "available_ram", lambda: (measured // 2, measured // 2))  # over all the RAM
    assert main(args) == 2 and "Will not fit" in capsys.readouterr().out and len(started) == 2


def test_qlora_without_a_gpu_says_how_to_fix_it(started, monkeypatch, capsys):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    assert main(["train", "--method", "qlora"]) == 2
    out = capsys.readouterr().out
    assert "model.quantization 4bit loading needs an NVIDIA GPU" in out
    hint = next(line for line in out.splitlines() if line.startswith("hint:"))
    assert "without quantization" in hint and "model.path" not in hint and started == []
