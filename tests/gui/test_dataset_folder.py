"""A dataset folder (a Hugging Face save_to_disk folder) opens on the Datasets page like a file."""

from __future__ import annotations

import datasets

from studio.gui.pages.datasets_page import FILE_FILTER, DatasetsPage


def test_a_save_to_disk_folder_opens_and_arrow_files_are_offered(qtbot, state, tmp_path):
    folder = tmp_path / "saved"
    datasets.Dataset.from_list([{"instruction": f"q{i}", "output": f"a{i}"} for i in range(12)]).save_to_disk(folder)
    page = DatasetsPage(state)
    qtbot.addWidget(page)
    page.open_path(str(folder))
    qtbot.waitUntil(lambda: page.dataset is not None, timeout=20_000)
    assert (page.dataset.format, len(page.dataset.examples)) == ("alpaca", 12)
    assert "*.arrow" in FILE_FILTER
