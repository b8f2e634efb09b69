"""How to start one of the studio's own Python modules in a new process.

From a checkout or a wheel that is ``python -m MODULE``; from the PyInstaller bundle
(``make package``) there is no ``-m``, so the bundle's executable is asked to run the
module itself (``lora-studio --run-module MODULE``, see studio/launcher.py). Every
worker, probe and benchmark process starts through here.
"""

from __future__ import annotations

import contextlib
import signal
import sys

PR_SET_PDEATHSIG = 1
RUN_MODULE_FLAG = "--run-module"


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def module_argv(module: str, *args: str) -> list[str]:
    """The full command line that runs ``module`` with ``args``."""
    if frozen():
        return [sys.executable, RUN_MODULE_FLAG, module, *args]
    return [sys.executable, "-m", module, *args]


def die_with_parent() -> None:
    """Linux: this process is killed when the one that started it ends, even by SIGKILL
    (torchrun with its worker, each rank with torchrun): no GPU process outlives a run."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
