"""A train worker leaves out the packages its job will not use (worker.lean_imports)."""

from __future__ import annotations

import subprocess
import sys

from studio.core.jobs import TrainJob
from studio.worker import lean_imports


def test_only_what_the_job_cannot_need_is_left_out():
    assert lean_imports.unused_by(TrainJob()) == ["sklearn", "bitsandbytes"]
    quantized = TrainJob()
    quantized.model.quantization = "4bit"
    assert lean_imports.unused_by(quantized) == ["sklearn"]
    eight_bit = TrainJob()
    eight_bit.training.optimizer = "paged_adamw_8bit"
    assert lean_imports.unused_by(eight_bit) == ["sklearn"]


def test_peft_and_transformers_see_them_missing_and_still_import():
    """In a fresh interpreter, as in the worker: the engine's imports work, transformers and
    peft report the left-out packages missing, and importing one fails loudly. TRL stays out of an
    SFT worker too (engine.preference_training imports it for a preference stage alone)."""
    code = """
import importlib.util, sys
from studio.core.jobs import TrainJob
from studio.worker.lean_imports import leave_out
print(leave_out(TrainJob()))
import peft, transformers
from studio.engine import training
print("trl" in sys.modules)
from transformers.utils import import_utils
print(importlib.util.find_spec("bitsandbytes"), importlib.util.find_spec("sklearn"))
print(import_utils.is_bitsandbytes_available(), import_utils.is_sklearn_available())
try:
    import bitsandbytes
except ImportError as exc:
    print("ImportError")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["['sklearn', 'bitsandbytes']", "False", "None None", "False False",
                                       "ImportError"]
