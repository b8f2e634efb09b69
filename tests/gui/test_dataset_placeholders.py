"""The Datasets page fills a file's {{placeholders}}, and the Train form sets the bad-row rule:
what the CLI's --var and --on-bad-rows do, done in the GUI."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QDialogButtonBox

from studio.gui.pages.datasets_page import DatasetsPage
from studio.gui.pages.train_page import TrainPage

ROWS = [{"instruction": "Who are you?", "output": "I am {{name}}, made by {{author}}."}] * 4


def settle(qtbot, page: DatasetsPage) -> None:
    qtbot.waitUntil(lambda: not page.busy(), timeout=30_000)


def test_placeholders_are_filled_from_the_page_and_reach_the_job(qtbot, state, tmp_path):
    path = tmp_path / "identity.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    page = DatasetsPage(state)
    qtbot.addWidget(page)
    settle(qtbot, page)
    assert not page.placeholders_button.isVisible() and not page.placeholders_button.isVisibleTo(page)
    page.open_path(str(path))
    settle(qtbot, page)
    assert "{{author}}" in page.notice.text() and "{{name}}" in page.notice.text()
    assert page.notice.action.text() == "Fill in placeholders…" and page.placeholders_button.isVisibleTo(page)

    dialog = page.open_placeholder_dialog()
    assert list(dialog.boxes) == ["name", "author"]
    dialog.boxes["name"].setText("Captain Lora")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    settle(qtbot, page)
    assert page.dataset.examples[0].messages[1].content == "I am Captain Lora, made by {{author}}."
    assert "{{author}}" in page.notice.text() and "{{name}}" not in page.notice.text()
    assert state.dataset_reading["variables"] == {"name": "Captain Lora"}

    page.set_variables({"name": "Captain Lora", "author": "the crew"})
    settle(qtbot, page)
    assert not page.notice.isVisibleTo(page)  # nothing left to say
    assert page.dataset.examples[0].messages[1].content == "I am Captain Lora, made by the crew."
    assert state.job.dataset.variables == {"name": "Captain Lora", "author": "the crew"}  # what Start trains with


def test_the_train_forms_bad_row_rule_judges_the_file_again(qtbot, state, tmp_path):
    """1 bad row of 31 (3%) is over the default 1%: refused; allowing 5% skips it; 'refuse the
    file' refuses it again. The rule is set on the Train form, the verdict is the Datasets page's."""
    path = tmp_path / "one_bad.jsonl"
    rows = [json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) for i in range(30)] + ['{"instruction": 1}']
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    datasets, train = DatasetsPage(state), TrainPage(state)
    for widget in (datasets, train):
        qtbot.addWidget(widget)
    datasets.open_path(str(path))
    settle(qtbot, datasets)
    assert "Training would refuse" in datasets.error_label.text()
    train.form.bindings["dataset.bad_rows_limit"].set(0.05)
    qtbot.waitUntil(lambda: state.job.dataset.bad_rows_limit == 0.05, timeout=5_000)
    settle(qtbot, datasets)
    assert not datasets.error_label.isVisibleTo(datasets)
    assert "1 of 31 rows will be left out" in datasets.notice.text()
    train.form.bindings["dataset.on_bad_rows"].set("stop")
    qtbot.waitUntil(lambda: state.job.dataset.on_bad_rows == "stop", timeout=5_000)
    settle(qtbot, datasets)
    assert "Training would refuse" in datasets.error_label.text() and "on_bad_rows" in datasets.error_label.text()
