"""One person's whole session, driven through the real main window with clicks.

Models → Datasets → Train → Start → Monitor (steps on the chart) → Stop → Runs.
Each page has its own detailed tests; this one proves the pages work together.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.core import runs
from studio.core.models import BUNDLED_ID
from studio.core.presets import count_lora_parameters
from studio.core.resources import bundled_dataset_path
from studio.gui.pages.train_page import TrainPage

LONG = 90_000




def model_row(window, text: str) -> int:
    table = window.models_page.table
    return next(r for r in range(table.rowCount()) if text in table.item(r, 0).text())


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def set_field(page: TrainPage, name: str, value) -> None:
    page.form.bindings[name].set(value)


@pytest.mark.slow
def test_pick_model_and_data_train_watch_stop_and_find_the_run(qtbot, window, state, tiny_model_dir):
    # Models: the bundled default is listed and chosen; then the user adds the tiny model and picks it.
    models = window.models_page
    window.show_page("Models")
    qtbot.waitUntil(lambda: models.table.rowCount() > 0 and not models.scanning_label.isVisible(), timeout=LONG)
    models.table.selectRow(model_row(window, "SmolLM2"))
    assert models.selected_model().id == BUNDLED_ID and state.model.id == BUNDLED_ID
    assert "SmolLM2" in window.train_page.context_label.text()
    with qtbot.waitSignal(models.scan_finished, timeout=LONG):
        models.add_path(tiny_model_dir)
    models.table.selectRow(model_row(window, tiny_model_dir.name))
    assert state.model.path == tiny_model_dir

    # Datasets: the user opens the sample file itself and sees it parsed, measured and split.
    datasets = window.datasets_page
    window.show_page("Datasets")
    sample = bundled_dataset_path()
    datasets.open_path(sample)
    qtbot.waitUntil(lambda: not datasets.busy() and datasets.dataset is not None, timeout=LONG)
    assert datasets.format_combo.currentText() == "auto: alpaca"
    assert "327</b> rows" in datasets.counts_label.text()
    assert datasets.histogram.stats is not None  # the tiny model has a tokenizer.json
    assert state.dataset_path == "bundled"  # the sample is named so, wherever the app is installed

    # Train: a preset fills the form, then the user changes hyperparameters.
    train = window.train_page
    window.show_page("Train")
    train.apply_preset()
    for name, value in {"lora.r": 4, "lora.alpha": 8, "training.learning_rate": 1e-2,
                        "training.max_steps": 400, "training.batch_size": 4, "training.max_length": 96,
                        "training.device": "cpu", "output.name": "e2e-captain"}.items():
        set_field(train, name, value)
    job = train.current_job()
    assert job is not None, train.issue_list.lines()
    assert (job.lora.r, job.model.path, job.dataset.path) == (4, str(tiny_model_dir), "bundled")
    trainable = count_lora_parameters(state.model.config, job.lora.target_modules, 4)
    assert train.size_label.text().startswith(f"{trainable:,} trainable / ")

    # Start: the window switches to Monitor, which follows the new worker live.
    before = {r.path for r in runs.list_runs()}
    click(qtbot, train.start_button)
    qtbot.waitUntil(lambda: len(runs.list_runs()) == len(before) + 1, timeout=10_000)
    run_dir = next(r.path for r in runs.list_runs() if r.path not in before)
    assert window.current_page_name() == "Monitor"
    monitor = window.monitor_page
    assert monitor.active_run() == run_dir
    loss = monitor.view.charts.loss
    qtbot.waitUntil(lambda: loss.point_count("loss") >= 3, timeout=LONG)
    assert "step" in monitor.view.header.stats.text().lower()

    # Stop (safe): the worker saves the adapter and ends as "stopped".
    click(qtbot, monitor.stop_button)
    qtbot.waitUntil(lambda: monitor.active_run() is None, timeout=LONG)
    qtbot.waitUntil(lambda: not runs.is_locked(run_dir), timeout=30_000)
    assert monitor.view.status == "stopped" == runs.summarize(run_dir).status
    assert (run_dir / runs.ADAPTER_NAME / "adapter_model.safetensors").exists()

    # Runs: the run is in the history with its status, and opening it replays the curve.
    runs_page = window.runs_page
    window.show_page("Runs")
    runs_page.refresh(background=False)
    row = runs_page.table.row_of(run_dir)
    assert row is not None and runs_page.table.text(row, "Status") == "stopped"
    steps = runs.summarize(run_dir).step
    assert runs_page.table.text(row, "Steps").startswith(f"{steps} / ")
    runs_page.open_run(run_dir)
    qtbot.waitUntil(lambda: runs_page.view.charts.loss.point_count("loss") == loss.point_count("loss"),
                    timeout=LONG)
