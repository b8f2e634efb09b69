"""``lora-studio train`` prints one "tip:" line when a reported GPU would sit mostly idle.

There is no GPU here, so the one function that asks NVML (core.gpus.visible_gpus) is
pointed at a fake H200; everything else runs for real, the worker included.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from studio.cli.advice import print_batch_tip
from studio.cli.main import main
from studio.core import gpus
from studio.core.jobs import TrainJob
from studio.core.reference_shapes import MODEL_SHAPES

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)

H200 = gpus.Gpu(0, "NVIDIA H200", 143_771_000_000)


@pytest.fixture
def one_b_folder(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """A Llama-3.2-1B config with the tiny model's tokenizer and no weights: the tip reads
    only these; the worker then fails to load it, after the tip was printed."""
    folder = tmp_path / "llama-1b-shape"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(MODEL_SHAPES["llama-3.2-1b"]), encoding="utf-8")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    return folder


@pytest.fixture
def alpaca_file(tmp_path: Path) -> Path:
    path = tmp_path / "alpaca.jsonl"
    rows = [{"instruction": f"Write a short note about topic number {i} for a new reader.", "input": "",
             "output": "Here is a short note: " + " ".join(f"word{j}" for j in range(i % 30 + 10))}
            for i in range(10_000)]  # 2,250 steps: long enough for a tip, even with CUDA graphs
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_train_prints_the_tip_before_the_run_and_changes_nothing(one_b_folder, alpaca_file, studio_home,
                                                                  monkeypatch, capsys):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (H200,))
    monkeypatch.setenv("COLUMNS", "400")
    main(["train", "--model", str(one_b_folder), "--dataset", str(alpaca_file)])
    out = capsys.readouterr().out
    lines = out.splitlines()
    tips = [i for i, line in enumerate(lines) if line.startswith("tip: ")]
    assert len(tips) == 1, out
    tip = lines[tips[0]]
    assert "The GPU will be mostly idle" in tip and "steps instead of 2,250" in tip and "learning rate" in tip
    assert "--batch-size" in tip and "nothing was changed" in tip
    run_line = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert tips[0] < run_line  # before the run starts
    job = json.loads(next((studio_home / "runs").glob("*/job.json")).read_text(encoding="utf-8"))
    assert job["training"]["batch_size"] == 4 and job["training"]["learning_rate"] == 2e-4
    # --quiet (scripts, the job benchmark): only what went wrong, and no time spent on a tip.
    main(["train", "--model", str(one_b_folder), "--dataset", str(alpaca_file), "--quiet"])
    assert "tip: " not in capsys.readouterr().out


def tip_for(job: TrainJob) -> str:
    buffer = io.StringIO()
    print_batch_tip(job, Console(file=buffer, width=400))
    return buffer.getvalue()


def test_no_gpu_reported_means_no_tip(one_b_folder, alpaca_file, monkeypatch):
    job = TrainJob()
    job.model.path, job.dataset.path = str(one_b_folder), str(alpaca_file)
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (H200,))
    assert tip_for(job).startswith("tip: ")
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    assert tip_for(job) == ""
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (H200,))
    job.training.device = "cpu"
    assert tip_for(job) == ""


def test_an_unknown_gpu_a_missing_model_or_a_fixed_step_count_print_nothing(one_b_folder, alpaca_file, monkeypatch):
    job = TrainJob()
    job.model.path, job.dataset.path = str(one_b_folder), str(alpaca_file)
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (gpus.Gpu(0, "Some Future GPU", 10**12),))
    assert tip_for(job) == ""
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (H200,))
    job.training.max_steps = 100
    assert tip_for(job) == ""
    job.training.max_steps = 0
    job.model.path = str(one_b_folder.parent / "missing")
    assert tip_for(job) == ""  # the worker says what is wrong, not the tip


def test_train_refuses_qlora_on_a_machine_without_a_gpu_before_starting_a_worker(one_b_folder, alpaca_file,
                                                                                  studio_home, monkeypatch, capsys):
    monkeypatch.setattr(gpus, "visible_gpus", lambda: ())
    monkeypatch.setenv("COLUMNS", "400")
    code = main(["train", "--model", str(one_b_folder), "--dataset", str(alpaca_file), "--method", "qlora"])
    out = capsys.readouterr().out
    assert code == 2 and "model.quantization 4bit loading needs an NVIDIA GPU" in out, out
    assert not (studio_home / "runs").exists() or not any((studio_home / "runs").iterdir())  # no run, no worker
