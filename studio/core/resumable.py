"""What a stopped or killed run can go on from: its newest usable checkpoint, or its finished adapter.

A checkpoint is usable when every file the resume reads is whole: the Trainer writes
``trainer_state.json`` last, but nothing it writes is fsynced, so after a crash or a power cut
a later file can be there while it (or an earlier one) is empty or cut short. Such a checkpoint
is passed over, with a warning naming it and why, for the one before it.

A run whose adapter was saved whole with every step trained (killed while filing it in the
library, say) has nothing left to train: resuming it finishes it from that adapter.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from studio.core import runs
from studio.core.outputs import TrainOutputs

STATE_NAME = "trainer_state.json"
WEIGHTS_NAME = "adapter_model.safetensors"
TORCH_SUFFIXES = (".pt", ".pth", ".bin")  # torch.save's zip archives: optimizer, scheduler, RNG state, args


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """Every ``checkpoint-N`` folder of the run, usable or not, oldest first."""
    folder = Path(run_dir) / runs.CHECKPOINTS_NAME
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir()]
    return sorted(found, key=_step_of)


def _step_of(folder: Path) -> int:
    suffix = folder.name.rsplit("-", 1)[1]
    return int(suffix) if suffix.isdigit() else -1


def checkpoint_problem(folder: Path) -> str | None:
    """Why a resume can't start from this checkpoint folder; None where it can."""
    folder = Path(folder)
    if not folder.is_dir():
        return "it is not a folder"
    state = folder / STATE_NAME
    if not state.is_file():
        return f"it has no {STATE_NAME} (its save was cut off)"
    try:
        text = state.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"its {STATE_NAME} can't be read ({exc})"
    if not text.strip():
        return f"its {STATE_NAME} is empty"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"its {STATE_NAME} is not valid JSON ({exc.msg} at line {exc.lineno})"
    step = data.get("global_step") if isinstance(data, dict) else None
    if not isinstance(step, int) or isinstance(step, bool):
        return f"its {STATE_NAME} has no global_step"
    return _weights_problem(folder)


def _weights_problem(folder: Path) -> str | None:
    """The adapter's weights and every torch file beside them must be whole: a torch.save zip
    archive ends with its directory, which a file cut short lacks."""
    from studio.core.models.config_reader import ModelError, read_safetensors_header

    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        return f"it has no {WEIGHTS_NAME}"
    try:
        read_safetensors_header(weights)
    except ModelError:
        return f"its {WEIGHTS_NAME} is incomplete (cut short or damaged)"
    for file in sorted(folder.iterdir()):
        if file.suffix in TORCH_SUFFIXES and file.is_file() and not zipfile.is_zipfile(file):
            return f"its {file.name} is incomplete (cut short or damaged)"
    return None


@dataclass
class ResumePoint:
    """The checkpoint a resume starts from, and the newer ones passed over (with why)."""

    run_dir: Path
    checkpoint: Path | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def warnings(self) -> list[str]:
        if self.checkpoint is None:
            return []
        return [f"{folder.name} was skipped: {why}; resuming from {self.checkpoint.name}"
                for folder, why in self.skipped]

    def refusal(self, save_steps: int) -> str:
        """One sentence: why nothing can be resumed, and what to do instead."""
        run = self.run_dir.name
        if self.skipped:
            listed = "; ".join(f"{folder.name}: {why}" for folder, why in self.skipped)
            return (f"{run} has no usable checkpoint to resume from ({listed}), so it can only be "
                    "started again")
        if save_steps <= 0:
            return (f"{run} has no complete checkpoint to resume from: it ran with training.save_steps = 0, "
                    "which keeps none, so start it again with --save-steps N (training.save_steps) to keep "
                    "one every N steps")
        return (f"{run} has no complete checkpoint to resume from: it ended before step {save_steps}, its "
                f"first (training.save_steps = {save_steps}); start it again, with a smaller --save-steps "
                "to keep one sooner")


def resume_point(run_dir: Path) -> ResumePoint:
    """The newest usable checkpoint of the run; those newer than it are named in ``skipped``
    (every one of them when none is usable)."""
    point = ResumePoint(Path(run_dir))
    for folder in reversed(checkpoint_folders(run_dir)):
        problem = checkpoint_problem(folder)
        if problem is None:
            point.checkpoint = folder
            break
        point.skipped.append((folder, problem))
    return point


def finished_adapter(run_dir: Path, max_steps: int = 0) -> TrainOutputs | None:
    """The ``done`` outputs of a run whose adapter (``<run>/adapter``) was saved whole, with
    its card, after every step was trained (at least ``max_steps`` where the job sets it);
    None where there is still training to do (a stopped run's adapter) or no such adapter."""
    from studio.core.cards import read_card

    run_dir = Path(run_dir)
    adapter = run_dir / runs.ADAPTER_NAME
    card = read_card(adapter)
    if card is None or (card.run_id and card.run_id != run_dir.name):
        return None  # not this run's (a copied folder) or not one LoRA Studio saved
    if not (adapter / "adapter_config.json").is_file() or _weights_problem(adapter) is not None:
        return None
    steps = card.metrics.steps
    totals = [e["total_steps"] for e in runs.read_events(run_dir)
              if e.get("type") == "step" and isinstance(e.get("total_steps"), int)]
    if steps is None or not totals or steps < max(totals[-1], max_steps):
        return None
    return TrainOutputs(adapter_path=str(adapter), base_model_path=card.base_model.hf_folder or None,
                        name=card.name, metrics=card.metrics, stopped=False)
