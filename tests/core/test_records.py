"""The record machinery itself: how a format that changed reads its older files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.core.records import Record


@dataclass
class Palette(Record):
    """Version 2 renamed ``colour`` to ``colours`` (a list)."""

    VERSION_KEY = "palette_version"
    VERSION = 2

    colours: list[str] | None = None

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        if version == 1 and "colour" in data:
            data["colours"] = [data.pop("colour")]
        return data


def test_an_older_format_is_upgraded_on_reading_and_written_in_the_new_one():
    old = Palette.from_dict({"palette_version": 1, "colour": "teal"})
    assert old.colours == ["teal"] and old.extra == {}
    assert old.to_dict() == {"palette_version": 2, "colours": ["teal"]}
    assert Palette.from_dict({"colour": "red"}).colours == ["red"]  # no version key: the first format
    assert Palette.from_dict(old.to_dict()) == old
