"""Which checkpoint a resume starts from, and when a run needs none (issue 22, findings 6 and 10).

The folders are built with the real formats the resume reads: a safetensors file written by
safetensors, trainer_state.json, and zip archives where torch.save writes them (its files are
zips, and a file cut short has lost the directory at a zip's end)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from studio.core import protocol, resumable, runs
from studio.core.cards import BaseModelRef, Card, write_card
from studio.core.outputs import TrainMetrics


def write_weights(folder: Path) -> None:
    save_file({"base_model.model.layer.lora_A.weight": np.ones((8, 64), dtype=np.float32)},
              str(folder / resumable.WEIGHTS_NAME))


def make_checkpoint(run_dir: Path, step: int) -> Path:
    folder = run_dir / runs.CHECKPOINTS_NAME / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    write_weights(folder)
    with zipfile.ZipFile(folder / "optimizer.pt", "w") as archive:
        archive.writestr("optimizer/data.pkl", b"\x80\x02}q\x00." * 200)
    (folder / resumable.STATE_NAME).write_text(json.dumps({"global_step": step, "log_history": []}))
    return folder


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BREAKS = {
    "no trainer_state.json": (lambda f: (f / resumable.STATE_NAME).unlink(), "has no trainer_state.json"),
    "empty trainer_state.json": (lambda f: (f / resumable.STATE_NAME).write_text(""),
                                 "trainer_state.json is empty"),
    "trainer_state.json cut short": (lambda f: cut_in_half(f / resumable.STATE_NAME),
                                     "trainer_state.json is not valid JSON"),
    "trainer_state.json of another shape": (lambda f: (f / resumable.STATE_NAME).write_text("[]"),
                                            "has no global_step"),
    "no weights": (lambda f: (f / resumable.WEIGHTS_NAME).unlink(), "has no adapter_model.safetensors"),
    "weights cut short": (lambda f: cut_in_half(f / resumable.WEIGHTS_NAME),
                          "adapter_model.safetensors is incomplete"),
    "optimizer state cut short": (lambda f: cut_in_half(f / "optimizer.pt"), "optimizer.pt is incomplete"),
}


def test_a_whole_checkpoint_is_usable(tmp_path: Path):
    folder = make_checkpoint(tmp_path, 4)
    assert resumable.checkpoint_problem(folder) is None
    assert runs.valid_checkpoints(tmp_path) == [folder]
    assert runs.latest_checkpoint(tmp_path) == folder


@pytest.mark.parametrize("damage", BREAKS)
def test_a_damaged_newest_checkpoint_is_skipped_for_the_one_before(damage: str, tmp_path: Path):
    """The newest checkpoint broken in each way a crash or a power cut leaves one: the resume
    point is the one before it, with a warning naming the one skipped and why."""
    older, newest = make_checkpoint(tmp_path, 2), make_checkpoint(tmp_path, 4)
    breaks, why = BREAKS[damage]
    breaks(newest)
    assert why in resumable.checkpoint_problem(newest)
    point = resumable.resume_point(tmp_path)
    assert point.checkpoint == older == runs.latest_checkpoint(tmp_path)
    assert runs.valid_checkpoints(tmp_path) == [older]
    (warning,) = point.warnings()
    assert warning.startswith("checkpoint-4 was skipped: ") and why in warning and "resuming from checkpoint-2" in warning


def test_checkpoints_are_ordered_by_step_not_by_name(tmp_path: Path):
    for step in (5, 20, 100, 10):
        make_checkpoint(tmp_path, step)
    (tmp_path / runs.CHECKPOINTS_NAME / "checkpoint-100" / resumable.STATE_NAME).unlink()  # cut off mid-save
    (tmp_path / runs.CHECKPOINTS_NAME / "notes").mkdir()
    assert runs.latest_checkpoint(tmp_path).name == "checkpoint-20"
    assert [p.name for p in runs.valid_checkpoints(tmp_path)] == ["checkpoint-5", "checkpoint-10", "checkpoint-20"]


def test_no_usable_checkpoint_is_one_sentence_naming_each_and_why(tmp_path: Path):
    (tmp_path / runs.CHECKPOINTS_NAME).mkdir()
    BREAKS["empty trainer_state.json"][0](make_checkpoint(tmp_path, 4))
    BREAKS["weights cut short"][0](make_checkpoint(tmp_path, 2))
    point = resumable.resume_point(tmp_path)
    assert point.checkpoint is None and runs.latest_checkpoint(tmp_path) is None
    assert point.warnings() == []
    refusal = point.refusal(save_steps=2)
    assert refusal.startswith(f"{tmp_path.name} has no usable checkpoint to resume from (checkpoint-4: ")
    assert "trainer_state.json is empty; checkpoint-2: its adapter_model.safetensors is incomplete" in refusal
    assert refusal.count(". ") == 0 and "\n" not in refusal


@pytest.mark.parametrize("save_steps, says", [
    (0, "it ran with training.save_steps = 0, which keeps none, so start it again with --save-steps N"),
    (50, "it ended before step 50, its first (training.save_steps = 50)"),
])
def test_a_run_without_checkpoints_is_refused_saying_why(save_steps: int, says: str, tmp_path: Path):
    refusal = resumable.resume_point(tmp_path).refusal(save_steps)
    assert refusal.startswith(f"{tmp_path.name} has no complete checkpoint to resume from: ")
    assert says in refusal and "--save-steps" in refusal and "\n" not in refusal


# -- a run whose adapter was saved: nothing left to train ---------------------------------------

def make_adapter_run(tmp_path: Path, steps: int, total: int, run_id: str | None = None) -> Path:
    run_dir = tmp_path / "20260101-120000-tiny-ab12"
    adapter = run_dir / runs.ADAPTER_NAME
    adapter.mkdir(parents=True)
    write_weights(adapter)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA"}))
    card = Card(name="pirate", base_model=BaseModelRef(id="/models/tiny", hf_folder="/models/tiny"),
                metrics=TrainMetrics(train_loss=1.25, eval_loss=1.5, steps=steps), run_id=run_id or run_dir.name)
    write_card(adapter, card)
    with open(run_dir / runs.EVENTS_NAME, "w", encoding="utf-8") as handle:
        for step in range(1, steps + 1):
            handle.write(protocol.encode(protocol.Step(step=step, total_steps=total, epoch=0.1, loss=2.0, lr=1e-4)))
    return run_dir


def test_a_run_with_every_step_in_its_saved_adapter_is_finished_from_it(tmp_path: Path):
    run_dir = make_adapter_run(tmp_path, steps=6, total=6)
    outputs = resumable.finished_adapter(run_dir)
    assert outputs is not None
    assert outputs.adapter_path == str(run_dir / runs.ADAPTER_NAME) and outputs.name == "pirate"
    assert outputs.base_model_path == "/models/tiny" and outputs.stopped is False
    assert (outputs.metrics.train_loss, outputs.metrics.eval_loss, outputs.metrics.steps) == (1.25, 1.5, 6)
    assert resumable.finished_adapter(run_dir, max_steps=8) is None  # the job asks for more steps


@pytest.mark.parametrize("case", ["stopped early", "another run's adapter", "weights cut short", "no card"])
def test_an_adapter_with_training_left_or_not_whole_is_not_finished(case: str, tmp_path: Path):
    run_dir = make_adapter_run(tmp_path, steps=4 if case == "stopped early" else 6, total=6,
                               run_id="20250101-000000-other-0000" if case == "another run's adapter" else None)
    adapter = run_dir / runs.ADAPTER_NAME
    if case == "weights cut short":
        cut_in_half(adapter / resumable.WEIGHTS_NAME)
    if case == "no card":
        (adapter / "card.json").unlink()
    assert resumable.finished_adapter(run_dir) is None
