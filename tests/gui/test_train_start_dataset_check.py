"""Start on the Train page checks the dataset before a run folder exists or a worker starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.gui.pages.train_page import TrainPage


@pytest.fixture
def page(qtbot, state):
    widget = TrainPage(state)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def runs_in(home: Path) -> list[Path]:
    return list((home / "runs").iterdir()) if (home / "runs").exists() else []


def test_a_missing_file_is_said_on_start_and_makes_no_run(page, state, tmp_path, studio_home):
    missing = tmp_path / "nowhere.jsonl"
    state.set_dataset(str(missing), "auto")
    assert page.start_button.isEnabled(), page.issue_list.lines()
    assert page.start_training() is None
    shown = " ".join(page.file_message.lines())
    assert str(missing) in shown and "does not exist" in shown
    assert runs_in(studio_home) == []


def test_columns_with_other_names_get_the_mapping_offered(page, state, tmp_path, studio_home):
    data = tmp_path / "qa.csv"
    data.write_text("question,answer\nWho are you?,Captain Lora\n", encoding="utf-8")
    state.set_dataset(str(data), "auto")
    assert page.start_training() is None
    assert "instruction=question,output=answer" in " ".join(page.file_message.lines())
    assert runs_in(studio_home) == []


def test_the_check_of_a_large_file_reads_only_its_first_rows(page, state, tmp_path):
    """Start reads the first rows of a large file, not all of it (the worker applies the
    bad-row rule to the rest): rows past the first thousand that are all bad go unseen here."""
    good = '{"instruction": "' + "word " * 40 + '", "output": "ok"}\n'
    bad = '{"instruction": "no output"}\n'
    data = tmp_path / "big.jsonl"
    data.write_text(good * 1000 + bad * 20000, encoding="utf-8")  # ~0.8 MB, above the page's whole-file limit
    state.set_dataset(str(data), "auto")
    assert page._dataset_ready(page.current_job())
