"""Rows we refuse rather than train wrongly, and the advice that must not follow such a refusal.

A row with images, audio or video is refused whatever format it is read as: LoRA Studio
trains on text only and would drop them silently. Offering another format or a column
mapping for such rows ("the columns look like messages: add --format messages") only leads
to the same refusal, so `format_hint` offers none for them. Preference pairs and rows
labelled undesirable are refused only by the supervised formats (another stage trains them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .columns import ColumnGuess, guess_columns
from .readers import RawRecord

MEDIA_KEYS = ("images", "image", "audios", "audio", "videos", "video")
MEDIA_PARTS = ("image", "image_url", "input_image", "audio", "input_audio", "video", "video_url", "file")
MEDIA_REFUSAL = "LoRA Studio trains on text only and would drop {it} silently: remove multimodal rows"


def untrainable(data: dict, *, sft: bool) -> tuple[str | None, str] | None:
    """(field, why and what to do) for a row that would be trained wrongly; ``sft``: read as a
    supervised format (False: as any format, e.g. while detecting it)."""
    if sft and "chosen" in data and "rejected" in data:
        return None, ("preference data (chosen/rejected) found; supervised fine-tuning would not learn the "
                      "preference: train it with training.stage = \"dpo\" (or orpo, simpo, kto) and the format "
                      "'auto', or map the chosen reply as the answer (e.g. --map output=chosen) and leave "
                      "'rejected' out")
    label = data.get("label")
    if sft and (label is False or str(label).lower() == "false") and any(
            key in data for key in ("prompt", "completion", "messages", "conversations")):
        return "label", ("this reply is labelled undesirable (KTO data: 'label' false); supervised fine-tuning "
                         "would teach it: train the file with training.stage = \"kto\", or keep only rows "
                         "with label true")
    for key in MEDIA_KEYS:
        if data.get(key):
            return key, (f"this row has {key} ('{key}' column); {MEDIA_REFUSAL.format(it='them')} "
                         "or use a text-only dataset")
    return None


def refused_in_every_format(data: Any) -> bool:
    """Whether a row is refused whatever format it is read as: a media column, or a media part
    (``{"type": "image", ...}``) in the content of any of its turns."""
    if not isinstance(data, dict):
        return False
    if any(data.get(key) for key in MEDIA_KEYS):
        return True
    turns = [turn for value in data.values() if isinstance(value, list) for turn in value if isinstance(turn, dict)]
    return any(isinstance(part, dict) and part.get("type") in MEDIA_PARTS
               for turn in turns if isinstance(turn.get("content"), list) for part in turn["content"])


def every_row_refused(rows: Sequence[RawRecord]) -> bool:
    """Whether ``rows`` has readable rows and each is refused whatever the format."""
    readable = [row.data for row in rows if row.error is None]
    return bool(readable) and all(refused_in_every_format(data) for data in readable)


def format_hint(columns: Sequence[str], format: str | None, rows: Sequence[RawRecord]) -> ColumnGuess | None:
    """The format or column mapping to offer for ``rows`` that can't be read as ``format``: None when
    the columns suggest none, suggest ``format`` itself, or every readable row is refused whatever
    the format (images, audio…): then a ``--format`` or ``--map`` would only repeat the refusal."""
    if every_row_refused(rows):
        return None
    guess = guess_columns(columns) if columns else None
    return None if guess and guess.format == format and not guess.mapping else guess
