"""studio.core stays pure Python: no torch, ML stacks or Qt, checked two ways."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

IMPORT_CORE = (
    "import studio.core, studio.core.jobs, studio.core.job_schema, studio.core.protocol, "
    "studio.core.presets, studio.core.models, studio.core.datasets, studio.core.runs, "
    "studio.core.cards, studio.core.atomic, studio.core.control_client, sys; "
    "bad = {'torch','PySide6','transformers','peft'} & set(sys.modules); assert not bad, bad"
)


def test_importing_core_loads_no_heavy_stack():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", IMPORT_CORE], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_import_contracts_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"import-linter is not installed beside {sys.executable}"
    result = subprocess.run([str(lint_imports)], cwd=REPO, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    match = re.search(r"Contracts: (\d+) kept, (\d+) broken", output)
    assert match, output
    assert int(match.group(1)) >= 4
    assert match.group(2) == "0", output
