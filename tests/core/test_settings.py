"""settings.json: the settings the GUI and the CLI share, written atomically and read whatever
state the file is in."""

from __future__ import annotations

import json
import warnings

import pytest

from studio.core import paths
from studio.core import settings as user_settings
from studio.core.records import RecordWarning
from studio.core.settings import Settings


def test_settings_round_trip_through_the_file(studio_home):
    assert user_settings.load() == Settings()  # no file yet: the defaults, silently
    saved = user_settings.update(theme="dark", vram_card="24 GB (RTX 3090/4090, A10)", first_run_done=True,
                                 hang_timeout_s=120.0, last_job={"lora": {"r": 16}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordWarning)
        assert user_settings.load() == saved
    data = json.loads(paths.settings_file().read_text())
    assert data["settings_version"] == 1 and data["theme"] == "dark" and data["last_job"] == {"lora": {"r": 16}}
    assert not [p.name for p in studio_home.iterdir() if p.name.endswith(".tmp")]  # written atomically
    with pytest.raises(TypeError, match="not a setting: colour"):
        user_settings.update(colour="red")


def test_a_corrupt_file_gives_the_defaults_with_a_warning_and_is_replaced_on_the_next_change(studio_home):
    paths.settings_file().write_text('{"theme": "dark", ')  # cut off mid-write by an older, non-atomic tool
    with pytest.warns(RecordWarning, match="not valid JSON"):
        assert user_settings.load() == Settings()
    paths.settings_file().write_text('["dark"]')
    with pytest.warns(RecordWarning, match="expected a JSON object"):
        assert user_settings.load() == Settings()
    with pytest.warns(RecordWarning):
        user_settings.update(theme="light")
    assert user_settings.load().theme == "light"


def test_unknown_keys_are_kept_and_bad_values_fall_back(studio_home):
    paths.settings_file().write_text(json.dumps({"settings_version": 1, "theme": "purple", "font_size": 14,
                                                 "model_folders": ["/m/a"]}))
    with pytest.warns(RecordWarning) as caught:
        settings = user_settings.load()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and "theme = 'purple'" in messages[0] and "unknown key(s) font_size" in messages[1]
    assert settings.theme == "system" and settings.model_folders == ["/m/a"] and settings.extra == {"font_size": 14}
    with pytest.warns(RecordWarning):
        user_settings.update(vram_card="8 GB (RTX 4060)")
    assert json.loads(paths.settings_file().read_text())["font_size"] == 14  # a newer version's key survives


def test_a_change_keeps_what_another_process_changed_meanwhile(studio_home, tmp_path):
    mine = user_settings.load()  # the GUI read the file at start
    user_settings.add_model_folder(tmp_path / "from-the-cli")  # the CLI adds a folder
    user_settings.update(theme="dark")  # the GUI changes its theme: the folder stays
    assert user_settings.load().model_folders == [str(tmp_path / "from-the-cli")] and mine.model_folders == []
    user_settings.add_model_folder(tmp_path / "from-the-cli")  # once only
    assert user_settings.load().model_folders == [str(tmp_path / "from-the-cli")]
    user_settings.remove_model_folder(tmp_path / "from-the-cli")
    assert user_settings.load() == Settings(theme="dark")
