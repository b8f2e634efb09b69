"""How to start one of the studio's own Python modules in a new process.

From a checkout or a wheel that is ``python -m MODULE``; from the PyInstaller bundle
(``make package``) there is no ``-m``, so the bundle's executable is asked to run the
module itself (``lora-studio --run-module MODULE``, see studio/launcher.py). Every
worker, probe and benchmark process starts through here.
"""

from __future__ import annotations

import sys

RUN_MODULE_FLAG = "--run-module"


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def module_argv(module: str, *args: str) -> list[str]:
    """The full command line that runs ``module`` with ``args``."""
    if frozen():
        return [sys.executable, RUN_MODULE_FLAG, module, *args]
    return [sys.executable, "-m", module, *args]
