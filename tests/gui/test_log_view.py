"""The Log panel: a library's Python warning is one line, shown once, counted, and can be hidden."""

from __future__ import annotations

from studio.gui.widgets.log_view import LogView

WARNING = ("/venv/lib/python3.11/site-packages/transformers/modeling_utils.py:3312: FutureWarning: "
           "`is_gradient_checkpointing` is deprecated and will be removed in v6.\n  warnings.warn(\n")


def test_library_warnings_are_one_line_once_and_can_be_hidden(qtbot):
    view = LogView()
    qtbot.addWidget(view)
    assert not view.library_filter.isVisibleTo(view)  # nothing to filter yet
    view.append_text("loading the model\n" + WARNING + "step 1\n" + WARNING * 5 + "step 2\n")
    lines = view.toPlainText().splitlines()
    assert lines == ["loading the model",
                     "[transformers FutureWarning] `is_gradient_checkpointing` is deprecated and will be removed in v6.",
                     "step 1", "step 2"]
    assert view.library_filter.isVisibleTo(view) and view.library_filter.text() == "Library warnings (6)"
    view.library_filter.setChecked(False)
    assert view.toPlainText().splitlines() == ["loading the model", "step 1", "step 2"]
    view.append_text(WARNING + "step 3\n")  # while hidden: counted, not shown
    assert view.toPlainText().splitlines()[-1] == "step 3" and "FutureWarning" not in view.toPlainText()
    view.library_filter.setChecked(True)
    assert view.toPlainText().count("FutureWarning") == 1 and view.library_filter.text() == "Library warnings (7)"


def test_a_warning_as_the_workers_logging_writes_it_is_one_line_too(qtbot):
    view = LogView()
    qtbot.addWidget(view)
    view.append_text("2026-12-03 16:35:10,111 WARNING py.warnings: " + WARNING + "step 1\n")
    assert view.toPlainText().splitlines() == [
        "[transformers FutureWarning] `is_gradient_checkpointing` is deprecated and will be removed in v6.", "step 1"]


def test_an_indented_line_after_an_ordinary_line_is_kept(qtbot):
    view = LogView()
    qtbot.addWidget(view)
    view.append_text("Traceback (most recent call last):\n  File \"x.py\", line 1\nboom\n")
    assert view.toPlainText().splitlines()[1] == '  File "x.py", line 1'
    view.append_text("progress 10%\rprogress 90%\n")
    assert view.toPlainText().splitlines()[-1] == "progress 90%"
