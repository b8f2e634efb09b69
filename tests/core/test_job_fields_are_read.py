"""Every job field is read by some code path: a field that only the form shows (and nothing
reads) is a dead checkbox, as ``output.save_merged`` once was."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import studio
from studio.core import jobs

# Where fields are only declared or listed, not acted on.
DECLARING = {"core/jobs.py", "gui/widgets/form_spec.py"}


def fields() -> list[tuple[str, str]]:
    found = []
    for kind, cls in jobs.JOB_KINDS.items():
        for field in dataclasses.fields(cls()):
            value = getattr(cls(), field.name)
            if dataclasses.is_dataclass(value):
                found += [(f"{kind}: {field.name}.{inner.name}", inner.name) for inner in dataclasses.fields(value)]
            else:
                found.append((f"{kind}: {field.name}", field.name))
    return found


def test_every_job_field_is_read_somewhere():
    root = Path(studio.__file__).parent
    code = "\n".join(path.read_text(encoding="utf-8") for path in root.rglob("*.py")
                     if path.relative_to(root).as_posix() not in DECLARING)
    # A preference stage's settings are read by name (PreferenceSettings.of_stage, which the engine hands to
    # TRL's config): those named in STAGE_SETTINGS are read where of_stage is called.
    by_stage = {name for names in jobs.STAGE_SETTINGS.values() for name in names}
    assert re.search(r"\.of_stage\(", (root / "engine" / "preference_training.py").read_text(encoding="utf-8"))
    unread = [label for label, name in fields() if not re.search(rf"\.{name}\b", code)
              and not (label.startswith("train: preference.") and name in by_stage)]
    assert not unread, f"fields nothing reads: {unread}"
