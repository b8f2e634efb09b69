"""Reading the data people have on the Datasets page: a column mapping, a .txt split, placeholders,
and the job's bad-row rule, all carried to the job the Train page builds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core.jobs import TrainJob
from studio.gui.pages.datasets_page import DatasetsPage
from studio.gui.pages.train_page import TrainPage
from studio.gui.widgets.column_mapping_dialog import UNSET, ColumnMappingDialog

QA_MAPPING = {"instruction": "question", "output": "answer"}


def settle(qtbot, page: DatasetsPage) -> DatasetsPage:
    qtbot.waitUntil(lambda: not page.busy(), timeout=30_000)
    return page


@pytest.fixture
def page(qtbot, state) -> DatasetsPage:
    widget = DatasetsPage(state)
    qtbot.addWidget(widget)
    return settle(qtbot, widget)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def qa_csv(tmp_path) -> Path:
    rows = [[f"What is {i} + {i}?", f"{2 * i}, matey!", f"id-{i}"] for i in range(12)]
    return write_csv(tmp_path / "qa.csv", ["question", "answer", "id"], rows)


def open_unreadable(qtbot, page: DatasetsPage, path: Path) -> None:
    with qtbot.waitSignal(page.load_failed, timeout=30_000):
        page.open_path(path)
    settle(qtbot, page)


def test_the_dialog_opens_with_the_guess_and_previews_as_the_mapping_changes(qtbot, page, qa_csv):
    open_unreadable(qtbot, page, qa_csv)
    assert "cannot tell the dataset format" in page.error_label.text()
    assert page.error_label.action.isVisibleTo(page) and page.error_label.action.text() == "Map columns…"
    dialog = page.open_mapping_dialog()
    assert isinstance(dialog, ColumnMappingDialog)
    assert dialog.chosen_format() == "alpaca" and dialog.mapping() == QA_MAPPING
    assert set(dialog.field_boxes) == {"instruction", "output", "input", "system"}
    required = {label.text() for label in dialog.fields_box.findChildren(type(page.file_label)) if "*" in label.text()}
    assert required == {"<b>instruction *</b>", "<b>output *</b>"}
    rows = dialog.preview_rows()
    assert len(rows) == 10 and all(kind == "chat" and not bad for _, kind, _, bad in rows)
    assert "What is 1 + 1?" in rows[1][2] and "2, matey!" in rows[1][2]

    with qtbot.waitSignal(dialog.preview_updated):
        dialog.choose("output", "id")
    assert "id-1" in dialog.preview_rows()[1][2] and "matey" not in dialog.preview_rows()[1][2]
    with qtbot.waitSignal(dialog.preview_updated):
        dialog.choose("output", UNSET)  # a required field without a column: every row is bad, OK is off
    assert all(bad for *_, bad in dialog.preview_rows()) and "output" in dialog.preview_rows()[0][2]
    assert dialog.missing_fields() == ["output"]
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    # Another format, and back: the choices made for alpaca are kept.
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("prompt_completion"))
    assert set(dialog.field_boxes) == {"prompt", "completion"}
    assert dialog.field_boxes["prompt"].currentData() == "question"  # carried over from instruction
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("alpaca"))
    assert dialog.field_boxes["output"].currentData() == UNSET
    dialog.reject()


def test_ok_applies_the_mapping_and_the_page_reads_chat_rows(qtbot, page, state, qa_csv):
    open_unreadable(qtbot, page, qa_csv)
    dialog = page.open_mapping_dialog()
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        dialog.accept()
    settle(qtbot, page)
    assert page.mapping_dialog is None
    assert page.columns == QA_MAPPING and page.selected_format() == "alpaca"
    assert not page.error_label.isVisibleTo(page)
    assert page.dataset.format == "alpaca" and len(page.dataset.examples) == 12
    assert page.rows.preview_cell(0, 1) == "chat" and "What is 0 + 0?" in page.rows.preview_cell(0, 2)
    assert page.clear_button.isVisibleTo(page)
    assert "instruction ← <b>question</b>" in page.mapping_label.text()
    assert (state.dataset_path, state.dataset_format) == (str(qa_csv), "alpaca")
    assert state.dataset_reading["columns"] == QA_MAPPING and state.job.dataset.columns == QA_MAPPING

    # Cancel leaves everything as it was.
    dialog = page.open_mapping_dialog()
    assert dialog.mapping() == QA_MAPPING  # the mapping in use, not a fresh guess
    dialog.choose("output", "id")
    dialog.reject()
    assert page.columns == QA_MAPPING and not page.busy()

    # Clearing reads the file by its own names again: it can't be read, and stays unchosen.
    with qtbot.waitSignal(page.load_failed, timeout=30_000):
        page.clear_button.click()
    assert page.columns == {} and page.selected_format() == "auto" and not page.clear_button.isVisibleTo(page)
    assert page.mapping_label.text() == "Columns read by their own names (question, answer, id)"
    assert state.dataset_reading["columns"] == QA_MAPPING  # the last file that could be used


def test_an_unreadable_table_offers_the_dialog_by_itself(qtbot, page, qa_csv, tmp_path):
    page.show()
    open_unreadable(qtbot, page, qa_csv)
    assert page.mapping_dialog is not None and page.mapping_dialog.isVisible()
    assert page.mapping_dialog.windowModality() == Qt.WindowModality.WindowModal
    page.mapping_dialog.reject()
    assert page.mapping_dialog is None
    # Loading again (another format) does not push it a second time.
    with qtbot.waitSignal(page.load_failed, timeout=30_000):
        page.format_combo.setCurrentIndex(page.format_combo.findData("text"))
    settle(qtbot, page)
    assert page.mapping_dialog is None
    # A table whose format is clear but whose rows are all bad needs the rows fixed, not a mapping.
    empty = write_csv(tmp_path / "empty.csv", ["instruction", "output"], [["Say hi", ""], ["Say bye", ""]])
    open_unreadable(qtbot, page, empty)
    assert "is empty" in page.error_label.text() and page.mapping_dialog is None


def test_the_mapping_reaches_the_job_the_train_page_builds(qtbot, page, state, qa_csv, settings, tmp_path):
    train = TrainPage(state)
    qtbot.addWidget(train)
    open_unreadable(qtbot, page, qa_csv)
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        page.open_mapping_dialog().accept()
    settle(qtbot, page)
    dataset = train.current_data()["dataset"]
    assert (dataset["path"], dataset["format"], dataset["columns"]) == (str(qa_csv), "alpaca", QA_MAPPING)
    job = train.current_job()
    assert job is not None and job.dataset.columns == QA_MAPPING, train.issues()
    saved = json.loads(train.save_job(tmp_path / "job.json").read_text())
    assert saved["dataset"]["columns"] == QA_MAPPING

    # The next start reads the file the same way (the Train form's last job keeps it).
    state.save_settings()
    from studio.gui.app_state import AppState

    again = AppState(settings)
    assert again.dataset_path == str(qa_csv) and again.dataset_reading["columns"] == QA_MAPPING
    assert again.job.dataset.columns == QA_MAPPING


def test_a_job_file_with_columns_is_read_its_way(qtbot, page, state, qa_csv, tmp_path):
    train = TrainPage(state)
    qtbot.addWidget(train)
    (tmp_path / "job.json").write_text(json.dumps({"dataset": {"path": str(qa_csv), "columns": QA_MAPPING}}))
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        assert train.load_job(tmp_path / "job.json")
    settle(qtbot, page)
    assert page.columns == QA_MAPPING and page.dataset.format == "alpaca"
    assert page.format_combo.currentText() == "auto: alpaca"
    assert train.current_data()["dataset"]["columns"] == QA_MAPPING


@pytest.mark.parametrize("split, examples", [("line", 4), ("paragraph", 2), ("file", 1)])
def test_a_text_file_splits_as_chosen(qtbot, page, state, tmp_path, split, examples):
    text = tmp_path / "notes.txt"
    text.write_text("Ahoy there.\nHoist the sails.\n\nSplice the mainbrace.\nWeigh anchor.\n", encoding="utf-8")
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        page.open_path(text)
    settle(qtbot, page)
    assert page.split_combo.isVisibleTo(page) and not page.map_button.isVisibleTo(page)
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        page.split_combo.setCurrentIndex(page.split_combo.findData(split))
    settle(qtbot, page)
    assert len(page.dataset.examples) == examples
    assert state.dataset_reading["text_split"] == split and state.job.dataset.text_split == split


def test_placeholders_without_a_value_are_said_and_values_fill_them(qtbot, page, state, tmp_path):
    data = tmp_path / "identity.jsonl"
    rows = [{"instruction": "Who are you?", "output": "I am {{name}}."}] * 3
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        page.open_path(data)
    settle(qtbot, page)
    assert page.notice.isVisibleTo(page) and "{{name}}" in page.notice.text()
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        state.set_dataset(str(data), "auto", {"variables": {"name": "Captain Lora"}})  # e.g. from a job file
    settle(qtbot, page)
    assert not page.notice.isVisibleTo(page)
    assert "I am Captain Lora." in page.rows.preview_cell(0, 2)


def test_the_stop_rule_refuses_a_file_with_a_bad_row(qtbot, page, state, tmp_path):
    good = {"instruction": "Say hi", "output": "Ahoy!"}
    data = tmp_path / "one_bad.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [good] * 200 + [{"instruction": "?"}]), encoding="utf-8")
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        page.open_path(data)
    settle(qtbot, page)
    assert "1 of 201 rows will be left out" in page.notice.text()  # under the 1% the job may skip
    assert state.dataset_path == str(data)
    job = TrainJob()
    job.dataset.on_bad_rows = "stop"
    with qtbot.waitSignal(page.dataset_loaded, timeout=30_000):
        state.set_job(job)
    settle(qtbot, page)
    assert "refuse" in page.error_label.text() and "line 201" in page.error_label.text()
    assert page.rows.issues_box.title() == "Bad rows (1)"  # still listed, to be fixed
