"""Settings an older version kept in QSettings reach settings.json once, for the GUI and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from studio.core import paths
from studio.core import settings as user_settings
from studio.gui.app_state import AppState
from studio.gui.settings_migration import DONE_KEY, OLD_KEYS


def old_qsettings(path: Path, **values) -> QSettings:
    """An INI file as the older GUI left it, read back by a fresh QSettings (a restart): INI
    gives strings back, and a one-item list as a plain string."""
    writer = QSettings(str(path), QSettings.Format.IniFormat)
    for key, value in values.items():
        writer.setValue(key.replace("__", "/"), value)
    writer.sync()
    return QSettings(str(path), QSettings.Format.IniFormat)


def test_old_qsettings_values_move_to_settings_json_once(qtbot, tmp_path):
    user_settings.add_model_folder("/m/added-by-the-cli")  # settings.json may exist already
    job = {"lora": {"r": 32}, "training": {"learning_rate": 1e-4}}
    qsettings = old_qsettings(
        tmp_path / "old.ini", models__extra_paths=["/m/one", "/m/added-by-the-cli"], estimate__card="16 GB (RTX 4080, T4)",
        guide__done=True, monitor__hang_timeout_s=120.0, model__id="path:/m/one", dataset__path="/d/chat.jsonl",
        dataset__format="sharegpt", train__last_job=json.dumps(job), train__tuned_for_model="path:/m/one",
        window__geometry=QByteArray(b"geometry"))
    state = AppState(qsettings)
    expected = user_settings.Settings(
        model_folders=["/m/added-by-the-cli", "/m/one"], vram_card="16 GB (RTX 4080, T4)", first_run_done=True,
        hang_timeout_s=120.0, last_model="path:/m/one", dataset_path="/d/chat.jsonl", dataset_format="sharegpt",
        last_job=job, tuned_for_model="path:/m/one")
    assert user_settings.load() == expected == state.settings
    assert state.dataset_path == "/d/chat.jsonl"
    assert set(json.loads(paths.settings_file().read_text())) >= set(OLD_KEYS.values())
    assert qsettings.value("window/geometry") == QByteArray(b"geometry")  # the window's own stays in Qt
    assert qsettings.value(DONE_KEY, False, type=bool)

    qsettings.setValue("estimate/card", "8 GB (RTX 4060)")  # an older version, run again, changed it there
    user_settings.update(theme="dark")
    again = AppState(qsettings)
    assert again.settings == user_settings.load() and again.settings.vram_card == "16 GB (RTX 4080, T4)"
    assert again.settings.theme == "dark"


def test_a_single_model_folder_and_nothing_else(qtbot, tmp_path):
    state = AppState(old_qsettings(tmp_path / "old.ini", models__extra_paths=["/m/only"]))
    assert state.settings == user_settings.Settings(model_folders=["/m/only"]) == user_settings.load()


def test_a_new_user_has_nothing_to_move(qtbot, tmp_path):
    state = AppState(old_qsettings(tmp_path / "new.ini"))
    assert state.settings == user_settings.Settings() and not paths.settings_file().exists()
