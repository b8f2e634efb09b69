"""Models page: real discovery on real files, in the background, feeding AppState."""

from __future__ import annotations

import json
import threading

import pytest
import shiboken6
from PySide6.QtCore import QThreadPool

from studio.core import settings as user_settings
from studio.core.models import BUNDLED_ID
from studio.gui.background import run_in_background, tasks_in_flight
from studio.gui.pages.models_page import ModelsPage


@pytest.fixture
def page(qtbot, state) -> ModelsPage:
    widget = ModelsPage(state)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.scan_finished, timeout=10_000):
        pass  # the first scan started in the constructor; nothing ran the event loop since
    return widget


def rescan(qtbot, page: ModelsPage, action) -> None:
    with qtbot.waitSignal(page.scan_finished, timeout=10_000):
        action()


def column(page: ModelsPage, index: int) -> list[str]:
    return [page.table.item(row, index).text() for row in range(page.table.rowCount())]


def test_bundled_model_is_listed_first_and_selected(page, state):
    assert page.models[0].id == BUNDLED_ID
    row = [page.table.item(0, c).text() for c in range(page.table.columnCount())]
    assert "LlamaForCausalLM" in row and "135M" in row and "bundled" in row
    assert state.model is not None and state.model.id == BUNDLED_ID
    assert "LlamaForCausalLM" in page.details.text() and "576" in page.details.text()
    assert not page.remove_button.isEnabled()  # nothing to forget about the bundled model
    assert not page.problems_box.isVisibleTo(page)


def test_added_folder_is_listed_remembered_and_selectable(qtbot, page, state, tiny_model_dir):
    rescan(qtbot, page, lambda: page.add_path(tiny_model_dir))
    assert tiny_model_dir.name in column(page, 0)
    assert user_settings.load().model_folders == [str(tiny_model_dir)] == page.extra_paths()
    page.select_model(BUNDLED_ID)
    assert state.model.id == BUNDLED_ID
    with qtbot.waitSignal(state.model_changed, timeout=1000) as changed:
        page.table.selectRow(column(page, 0).index(tiny_model_dir.name))
    assert changed.args[0].path == tiny_model_dir
    assert state.model.path == tiny_model_dir and state.job.model.path == str(tiny_model_dir)
    assert "float32" in column(page, 6) and page.remove_button.isEnabled()
    rescan(qtbot, page, page.remove_button.click)
    assert tiny_model_dir.name not in column(page, 0)
    assert page.extra_paths() == []


def test_last_chosen_model_is_selected_on_start(qtbot, state, tiny_model_dir):
    user_settings.update(model_folders=[str(tiny_model_dir)], last_model=f"path:{tiny_model_dir}")
    page = ModelsPage(state)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: state.model is not None, timeout=10_000)
    assert state.model.path == tiny_model_dir
    assert page.selected_model().path == tiny_model_dir


def test_broken_folder_is_listed_as_a_problem(qtbot, page, tmp_path):
    broken = tmp_path / "half-downloaded"
    broken.mkdir()
    (broken / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "hidden_size": "big"}')
    rescan(qtbot, page, lambda: page.add_path(broken))
    assert page.problems_box.isVisibleTo(page)
    texts = [page.problems_list.item(i).text() for i in range(page.problems_list.count())]
    assert any(str(broken) in text and "hidden_size" in text for text in texts), texts
    assert [m.id for m in page.models] == [BUNDLED_ID]  # the good model stays


def test_missing_path_is_a_problem_not_a_crash(qtbot, page, tmp_path):
    rescan(qtbot, page, lambda: page.add_path(tmp_path / "gone"))
    assert any("does not exist" in reason for _path, reason in page.problems)


def test_background_results_and_errors_arrive_on_the_gui_thread(qtbot):
    gui_thread = threading.get_ident()
    seen: list[tuple[str, object, int]] = []
    run_in_background(lambda a, b: a + b, 2, 3, on_done=lambda r: seen.append(("done", r, threading.get_ident())))
    run_in_background(lambda: 1 / 0, on_done=seen.append,
                      on_error=lambda e: seen.append(("error", type(e).__name__, threading.get_ident())))
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert sorted(seen) == [("done", 5, gui_thread), ("error", "ZeroDivisionError", gui_thread)]


def test_a_deleted_page_does_not_receive_late_results(qtbot, state):
    page = ModelsPage(state)  # its scan is in flight
    page.deleteLater()
    qtbot.wait(10)
    QThreadPool.globalInstance().waitForDone(10_000)
    qtbot.waitUntil(lambda: tasks_in_flight() == 0, timeout=10_000)  # delivered to nobody, no crash


def test_a_folder_added_here_is_listed_by_the_cli(qtbot, page, tiny_model_dir, capsys):
    from studio.cli.main import main

    rescan(qtbot, page, lambda: page.add_path(tiny_model_dir))
    capsys.readouterr()
    assert main(["models", "--json"]) == 0  # the CLI, in this process: it reads settings.json too
    assert [m["id"] for m in json.loads(capsys.readouterr().out)][-1] == f"path:{tiny_model_dir}"
    assert main(["models", "--forget", str(tiny_model_dir)]) == 0
    rescan(qtbot, page, page.scan)  # a rescan sees what the CLI changed
    assert tiny_model_dir.name not in column(page, 0) and page.extra_paths() == []


def test_a_late_result_for_a_lambda_over_a_deleted_widget_is_dropped(qtbot):
    """The Library page hands lambdas over ``self`` (a reload after a rename): one that arrives after
    the page is gone must not be called (it raised 'Internal C++ object already deleted')."""
    from PySide6.QtWidgets import QLabel

    label, seen = QLabel(), []
    release = threading.Event()
    run_in_background(release.wait, 10, on_done=lambda _r: seen.append(label.text()))
    label.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(label), timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: tasks_in_flight() == 0, timeout=10_000)
    assert seen == []
