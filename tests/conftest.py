"""Fixtures shared by every test: a private LoRA Studio home per test, and the quick tier's guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# One torch thread per pytest process under xdist: ``-n auto`` already runs a process per core, and
# torch's default of a thread per core in each oversubscribed them (measured on 2 cores under load: a
# tiny model's forward 95 ms with 2 threads, 5 ms with 1). Set before torch loads, so the workers and
# commands the tests start inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# What starts a worker or a training command: a test that runs one is marked ``integration``
# (the quick tier, ``-m "not integration and not slow"``, leaves it out).
WORKER_MODULES = {"studio", "studio.worker", "studio.cli.main"}
WORKER_PROGRAMS = {"lora-studio", "torchrun"}


def starts_a_worker(argv) -> bool:
    words = [str(a) for a in argv] if isinstance(argv, (list, tuple)) else str(argv).split()
    modules = {words[i + 1] for i, word in enumerate(words[:-1]) if word == "-m"}
    return bool(modules & WORKER_MODULES) or any(Path(w).name in WORKER_PROGRAMS for w in words)


@pytest.fixture(autouse=True)
def quick_tier_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Fail a test not marked ``integration`` (or ``slow``) that starts a worker, through a
    subprocess or the GUI's launcher, so the quick tier stays quick and the marks stay true.
    The start itself goes ahead (it may be in a pool thread); the test fails at its end."""
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker("slow"):
        yield
        return
    started: list[str] = []

    def note(argv) -> None:
        if starts_a_worker(argv):
            started.append(" ".join(map(str, argv if isinstance(argv, (list, tuple)) else [argv]))[:160])

    real_popen = subprocess.Popen.__init__

    def popen(self, args, *rest, **kwargs):
        note(args)
        real_popen(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    launcher = sys.modules.get("studio.gui.run_launcher")  # the GUI's detached QProcess starts
    if launcher is not None:  # (PySide's methods can't be patched: its argv is caught instead)
        real_argv = launcher.worker_argv

        def worker_argv(*args, **kwargs):
            argv = real_argv(*args, **kwargs)
            note(argv)
            return argv

        monkeypatch.setattr(launcher, "worker_argv", worker_argv)
        real_sweep_argv = launcher.sweep_argv

        def sweep_argv(*args, **kwargs):
            argv = real_sweep_argv(*args, **kwargs)
            note(argv)
            return argv

        monkeypatch.setattr(launcher, "sweep_argv", sweep_argv)
    queue_runner = sys.modules.get("studio.core.queue.runner")  # the queue's runner starts workers too
    if queue_runner is not None:
        real_runner_argv = queue_runner.background_argv

        def background_argv():
            argv = real_runner_argv()
            note(argv)
            return argv

        monkeypatch.setattr(queue_runner, "background_argv", background_argv)
    yield
    if started:
        pytest.fail(f"this test starts a worker ({started[0]}): mark it integration", pytrace=False)


@pytest.fixture(autouse=True)
def studio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``LORA_STUDIO_HOME`` at a temp folder so no test touches the real one."""
    home = tmp_path / "home"
    monkeypatch.setenv("LORA_STUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a real BPE tokenizer and ChatML template (built once)."""
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def _bundled_conversion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GGUF converted once per session (it takes ~15 s)."""
    import os

    from studio.engine.model_loading import ensure_hf_folder, gguf_cache_dir, resolve_model_path

    shared_home = tmp_path_factory.mktemp("shared-home")
    previous = os.environ.get("LORA_STUDIO_HOME")
    os.environ["LORA_STUDIO_HOME"] = str(shared_home)
    try:
        source = resolve_model_path("bundled")
        ensure_hf_folder(source)
        return gguf_cache_dir(source)
    finally:
        if previous is None:
            os.environ.pop("LORA_STUDIO_HOME", None)
        else:
            os.environ["LORA_STUDIO_HOME"] = previous


@pytest.fixture
def bundled_model(studio_home: Path, _bundled_conversion: Path) -> Path:
    """This test's home, with the session's converted bundled model linked into it."""
    models = studio_home / "models"
    models.mkdir(parents=True, exist_ok=True)
    link = models / _bundled_conversion.name
    if not link.exists():
        link.symlink_to(_bundled_conversion, target_is_directory=True)
    return link
