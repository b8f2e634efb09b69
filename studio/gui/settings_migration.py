"""Settings an older LoRA Studio kept in Qt's settings, moved into settings.json once.

Before ``<home>/settings.json`` the GUI kept these in QSettings, where the CLI could
not see them (a model folder added on the Models page was not one `lora-studio
models` listed). The old values are left where they were, for an older version.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from PySide6.QtCore import QSettings

from studio.core import settings as user_settings

DONE_KEY = "settings/moved_to_settings_json"
OLD_KEYS = {  # QSettings key -> Settings field
    "models/extra_paths": "model_folders",
    "estimate/card": "vram_card",
    "guide/done": "first_run_done",
    "monitor/hang_timeout_s": "hang_timeout_s",
    "model/id": "last_model",
    "dataset/path": "dataset_path",
    "dataset/format": "dataset_format",
    "train/last_job": "last_job",
    "train/tuned_for_model": "tuned_for_model",
}


def migrate_qsettings(qsettings: QSettings) -> dict[str, Any]:
    """Copy the old values into settings.json, the first time only; returns what was copied.
    Model folders are added to those settings.json lists already (the CLI may have added some)."""
    if qsettings.value(DONE_KEY, False, type=bool):
        return {}
    found = {name: _plain(name, qsettings.value(key)) for key, name in OLD_KEYS.items() if qsettings.contains(key)}
    found = {name: value for name, value in found.items() if value is not None}
    if found:
        folders = found.pop("model_folders", [])

        def merge(settings: user_settings.Settings) -> user_settings.Settings:
            kept = [*settings.model_folders, *(f for f in folders if f not in settings.model_folders)]
            return user_settings.Settings.from_dict({**settings.to_dict(), **found, "model_folders": kept},
                                                    "the Qt settings")

        user_settings.edit(merge)
        found["model_folders"] = folders
    qsettings.setValue(DONE_KEY, True)
    qsettings.sync()
    return found


def _plain(name: str, value: Any) -> Any:
    """A QSettings value as settings.json holds it, by the field's type (an INI file gives back
    strings, and a one-item list as a string); None for a value that can't be read."""
    if value in (None, ""):
        return None
    hint = typing.get_type_hints(user_settings.Settings)[name]
    kind = typing.get_origin(hint) or hint
    try:
        if kind is list:
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
        if kind is bool:
            return value if isinstance(value, bool) else str(value).lower() == "true"
        if kind is float:
            return float(value)
        if kind is dict:
            data = json.loads(str(value))
            return data if isinstance(data, dict) else None
    except (TypeError, ValueError):
        return None
    return str(value)
