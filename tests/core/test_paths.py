"""Paths as people type them: ~ expanded, and a ~name of no user kept rather than raising."""

from __future__ import annotations

from pathlib import Path

from studio.core.paths import user_path
from studio.core.resources import resolve_dataset_path


def test_a_tilde_is_the_home_folder_and_an_unknown_users_tilde_is_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_path("~/data.jsonl") == tmp_path / "data.jsonl"
    # pathlib raises RuntimeError for "~0" (no user "0"): the inspect fuzz found it as a traceback.
    assert user_path("~0/data.jsonl") == Path("~0/data.jsonl")
    assert resolve_dataset_path("~0") == Path("~0") and not resolve_dataset_path("~0").exists()
