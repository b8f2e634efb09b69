"""Settings' UI scale at its largest (200%): the fit checks of test_labels_fit (every one-line
label) and test_library_table (every adapter name) again, in a process started with
QT_SCALE_FACTOR=2, which Qt reads once at its start, as the app sets it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FIT_CHECKS = (HERE / "test_labels_fit.py", HERE / "test_library_table.py")


@pytest.mark.integration  # another process running the whole window five times (about 30 s)
def test_nothing_is_cut_off_at_200_percent():
    env = dict(os.environ, QT_SCALE_FACTOR="2", QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-m", "pytest", *map(str, FIT_CHECKS), "-q", "-p", "no:cacheprovider"],
                            cwd=HERE.parents[1], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout  # labels light and dark (each asserting a device pixel ratio of 2), names x3
