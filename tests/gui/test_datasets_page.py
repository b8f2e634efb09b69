"""Datasets page: real files loaded in the background, checked, measured and highlighted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.jobs import TrainJob
from studio.core.models import bundled_model_path, gguf_tokenizer_dir, inspect_model
from studio.core.resources import bundled_dataset_path
from studio.gui.pages.datasets_page import DatasetsPage


def settle(qtbot, page: DatasetsPage) -> DatasetsPage:
    qtbot.waitUntil(lambda: not page.busy(), timeout=15_000)
    return page


@pytest.fixture
def page(qtbot, state) -> DatasetsPage:
    widget = DatasetsPage(state)  # opens state.dataset_path: the bundled sample
    qtbot.addWidget(widget)
    return settle(qtbot, widget)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_bundled_sample_shows_format_counts_and_split(page, state):
    assert page.format_combo.currentText() == "auto: alpaca"
    assert page.dataset.format == "alpaca" and len(page.dataset.examples) == 327
    assert "327</b> rows" in page.counts_label.text() and "<b>0</b> bad" in page.counts_label.text()
    assert page.split_label.text() == "<b>294</b> train / <b>33</b> eval"
    assert page.rows.preview_table.rowCount() == 50
    assert page.rows.preview_cell(0, 0) == "row 0" and page.rows.preview_cell(0, 1) == "chat"
    assert "Ahoy!" in page.rows.preview_cell(0, 2)
    assert state.dataset_path == "bundled"
    # No model chosen: the chart says what is missing instead of guessing.
    assert page.histogram.stats is None
    assert "tokenizer.json" in page.histogram.message_label.text()


def test_split_follows_the_job(qtbot, page, state):
    job = TrainJob()
    job.dataset.eval_fraction = 0.2
    state.set_job(job)
    assert page.split_label.text() == "<b>262</b> train / <b>65</b> eval"


def test_tiny_model_gives_histogram_and_highlighted_answer(qtbot, page, state, tiny_model_dir):
    state.set_model(inspect_model(tiny_model_dir))
    settle(qtbot, page)
    assert page.histogram.total_count() == 327 and page.histogram.stats.count == 327
    assert "no example is truncated" in page.histogram.truncation_label.text()
    highlighted = page.example_view.highlighted_text()
    assert any("Ahoy!" in run for run in highlighted), highlighted
    assert not any("Name the capital" in run for run in highlighted)  # the prompt is not trained
    assert "<|im_start|>user" in page.example_view.text.toPlainText()
    page.example_view.spin.setValue(3)
    assert page.example_view.where_label.text() == "row 2"
    # A shorter max_length on the Train page: the cut line moves and some rows are cut.
    job = TrainJob()
    job.training.max_length = 40
    state.set_job(job)
    assert page.histogram.truncated_count() > 0
    assert "would be truncated" in page.histogram.truncation_label.text()


def test_when_many_rows_would_be_cut_the_length_that_fits_95_percent_is_offered(qtbot, page, state,
                                                                                  tiny_model_dir):
    state.set_model(inspect_model(tiny_model_dir))
    settle(qtbot, page)
    assert not page.histogram.fit_button.isVisibleTo(page)  # nothing cut at the default 512
    job = TrainJob()
    job.training.max_length = 24
    state.set_job(job)
    offer = page.histogram.fit_button
    p95 = page.histogram.p95_length()
    assert offer.isVisibleTo(page) and offer.text() == f"Max length {p95} (95% fit)" and p95 > 24
    offer.click()
    assert state.job.training.max_length == p95
    assert page.histogram.cut_line.value() == p95 and not offer.isVisibleTo(page)
    assert page.histogram.truncated_count() <= 0.05 * page.histogram.total_count()


@pytest.mark.integration  # a child process reads the tokenizer out of the .gguf
def test_the_bundled_models_lengths_come_without_training_it_first(qtbot, page, state, studio_home):
    """Token lengths of a .gguf model once appeared only after its first training converted it."""
    state.set_model(inspect_model(bundled_model_path()))
    settle(qtbot, page)
    # Not for a page built in the background: once someone looks at it.
    assert not page.tokenizers.running() and "Reading the tokenizer out of SmolLM2" in \
        page.histogram.message_label.text()
    page.show()
    assert page.tokenizers.running() and page.busy()
    qtbot.waitUntil(lambda: not page.busy(), timeout=120_000)
    assert page.histogram.stats is not None and page.histogram.total_count() == 327
    assert page.report.note.startswith("Tokens of SmolLM2-135M-Instruct (bundled)")
    assert (gguf_tokenizer_dir(bundled_model_path()) / "tokenizer.json").is_file()
    assert not list((studio_home / "models").glob("*"))  # the tokenizer alone: the model is not converted for it


def test_bad_row_is_listed_with_line_and_field(qtbot, page, state, tmp_path):
    good = {"instruction": "Say hi", "output": "Ahoy!"}
    data = write_jsonl(tmp_path / "data.jsonl", [good, good, {"instruction": "Say bye"}, good])
    with qtbot.waitSignal(page.dataset_loaded, timeout=10_000):
        page.open_path(data)
    settle(qtbot, page)
    issues = page.rows.issue_texts()
    assert len(issues) == 1 and "line 3" in issues[0] and "output" in issues[0], issues
    assert "4</b> rows · <b>1</b> bad" in page.counts_label.text() and "3 can be trained on" in \
        page.counts_label.toolTip()
    assert page.rows.issues_box.title() == "Bad rows (1)"
    # One row in four is more than the job's 1% may skip: shown, but training would refuse it.
    assert "1 of 4 rows" in page.error_label.text() and "refuse" in page.error_label.text()
    assert state.dataset_path == "bundled"
    job = TrainJob()
    job.dataset.bad_rows_limit = 0.5
    with qtbot.waitSignal(page.dataset_loaded, timeout=10_000):
        state.set_job(job)  # the rule changed (e.g. a job file): judged again
    settle(qtbot, page)
    assert not page.error_label.isVisibleTo(page)
    assert "1 of 4 rows will be left out" in page.notice.text()
    assert state.dataset_path == str(data)


@pytest.mark.parametrize("content, expected", [
    (b'{"text": "caf\xe9"}\n', "not valid UTF-8"),
    (b"", "empty"),
])
def test_unusable_file_shows_an_error_label(qtbot, page, state, tmp_path, content, expected):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    with qtbot.waitSignal(page.load_failed, timeout=10_000) as failed:
        page.open_path(bad)
    settle(qtbot, page)
    assert page.error_label.isVisibleTo(page)
    assert "bad.jsonl" in page.error_label.text() and expected in page.error_label.text()
    assert "Traceback" not in failed.args[0]
    assert page.dataset is None and page.rows.preview_table.rowCount() == 0
    assert state.dataset_path == "bundled"  # a bad file is never selected for training
    with qtbot.waitSignal(page.dataset_loaded, timeout=10_000):
        page.open_path(bundled_dataset_path())
    assert not page.error_label.isVisibleTo(page)


def test_overriding_the_format_reparses(qtbot, page, state, tmp_path):
    rows = [{"prompt": f"Q{i}: ", "completion": f"A{i}", "text": f"plain text {i}"} for i in range(5)]
    data = write_jsonl(tmp_path / "both.jsonl", rows)
    with qtbot.waitSignal(page.dataset_loaded, timeout=10_000):
        page.open_path(data)
    assert page.dataset.format == "prompt_completion"
    assert page.format_combo.currentText() == "auto: prompt_completion"
    with qtbot.waitSignal(page.dataset_loaded, timeout=10_000):
        page.format_combo.setCurrentIndex(page.format_combo.findData("text"))
    settle(qtbot, page)
    assert page.dataset.format == "text" and page.rows.preview_cell(0, 1) == "text"
    assert page.rows.preview_cell(0, 2) == "plain text 0"
    assert state.dataset_format == "text"
    # A format the rows do not fit is an error message, not a crash.
    with qtbot.waitSignal(page.load_failed, timeout=10_000) as failed:
        page.format_combo.setCurrentIndex(page.format_combo.findData("sharegpt"))
    assert "conversations" in failed.args[0]


def test_every_control_has_a_tooltip(page):
    from PySide6.QtWidgets import QComboBox, QPushButton, QSpinBox, QTextEdit

    for kind in (QPushButton, QComboBox, QSpinBox, QTextEdit):
        for widget in page.findChildren(kind):
            assert widget.toolTip(), f"{kind.__name__} {widget.text() if hasattr(widget, 'text') else ''}"


def test_a_dataset_chosen_elsewhere_is_shown(qtbot, page, state, tmp_path):
    other = write_jsonl(tmp_path / "other.jsonl", [{"prompt": "p", "completion": "c"}] * 3)
    state.set_dataset(str(other), "auto")  # e.g. the Train page loaded a job file
    settle(qtbot, page)
    assert page.dataset is not None and page.dataset.format == "prompt_completion"
    assert state.dataset_path == str(other)


def test_compare_prompts_come_from_the_eval_split():
    from studio.gui.pages.compare_page import dataset_prompts

    prompts = dataset_prompts("bundled", "auto")
    assert 1 <= len(prompts) <= 20 and all(isinstance(p, str) and p for p in prompts)


def test_a_preference_file_is_shown_pair_by_pair_and_chosen_with_the_stages_that_train_it(qtbot, page, state,
                                                                                          tmp_path):
    """Every kind of row has a stage: the pairs are readable, chosen for training, and the page says which
    of the Train page's stages train them (the Train page checks its Stage box against the file)."""
    pairs = write_jsonl(tmp_path / "prefs.jsonl", [
        {"prompt": "Say hi.", "chosen": "Ahoy, matey!", "rejected": "Hello."},
        {"prompt": "Add 2 and 3.", "chosen": "Arr, 5!", "rejected": "5."}])
    with qtbot.waitSignal(page.dataset_loaded, timeout=10_000):
        page.open_path(pairs)
    settle(qtbot, page)
    assert page.dataset is not None and page.dataset.format == "preference"
    row = page.rows.preview_cell(0, 2)
    assert "Say hi." in row and "chosen: assistant: Ahoy, matey!" in row and "rejected: assistant: Hello." in row
    assert page.rows.preview_cell(0, 1) == "preference"
    assert not page.error_label.isVisibleTo(page) or not page.error_label.text()
    assert "choose DPO, ORPO, SimPO, KTO in the Train page's Stage box" in page.notice.message.text()
    assert state.dataset_path == str(pairs)  # chosen for training
