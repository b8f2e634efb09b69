"""max_length on preference rows is never silent: the rows TRL leaves out (a prompt that alone fills
max_length) and the replies it cuts are counted in warnings, for each stage's own tokenized columns."""

from __future__ import annotations

import datasets
import pytest
from helpers import Recorder
from preference_support import preference_job

from studio.core import protocol
from studio.core.datasets import DatasetError
from studio.engine.control import JobControl
from studio.engine.preference_stages import length_notes
from studio.engine.preference_training import train_preference

pytestmark = pytest.mark.integration


def warnings_of(rec: Recorder) -> list[str]:
    return [event.message for event in rec.events if isinstance(event, protocol.Warning)]


@pytest.mark.parametrize("stage", ["dpo", "orpo", "kto"])
def test_replies_cut_at_max_length_are_counted(tiny_model_dir, tmp_path, stage):
    job = preference_job(tiny_model_dir, stage, 1, dataset={"max_rows": 16},
                         training={"max_length": 40, "save_steps": 0})
    rec = Recorder()
    train_preference(job, tmp_path / "run", rec, JobControl())
    cut = [text for text in warnings_of(rec) if "longer than training.max_length (40 tokens)" in text]
    assert cut and cut[0].split(" of ")[0].isdigit() and "Raise training.max_length" in cut[0]


def test_a_run_whose_every_prompt_fills_max_length_is_refused_with_what_to_do(tiny_model_dir, tmp_path):
    job = preference_job(tiny_model_dir, "dpo", 1, dataset={"max_rows": 16},
                         training={"max_length": 16, "save_steps": 0})
    with pytest.raises(DatasetError, match=r"prompt alone fills training.max_length \(16 tokens\).*raise"):
        train_preference(job, tmp_path / "run", Recorder(), JobControl())


def test_rows_left_out_and_cut_are_counted_from_the_tokenized_columns():
    """Partly: DPO/KTO columns keep whole lengths (cut when over); ORPO/CPO's are cut already (at it)."""
    whole = datasets.Dataset.from_dict({"prompt_ids": [[1] * 5, [1] * 5, [1] * 2],
                                        "chosen_ids": [[2] * 3, [2] * 6, [2] * 3],
                                        "rejected_ids": [[3] * 9, [3] * 2, [3] * 3]})
    notes = length_notes(4, whole, 10, "training pairs")
    assert notes[0].startswith("1 of 4 training pairs were left out by the trainer")
    assert notes[1].startswith("2 of 3 training pairs are longer than training.max_length (10 tokens)")
    assert "the longest is 14 tokens" in notes[1]
    cut_already = datasets.Dataset.from_dict({"chosen_input_ids": [[1] * 10, [1] * 4], "rejected_input_ids": [[1] * 3] * 2})
    assert length_notes(2, cut_already, 10, "held-out pairs") == [
        "1 of 2 held-out pairs are longer than training.max_length (10 tokens): their replies are cut there, and "
        "what follows is not learnt. Raise training.max_length to learn them whole."]
    assert length_notes(2, cut_already, 11, "held-out pairs") == []
