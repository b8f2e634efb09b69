"""How long does the Train page's memory estimate take per keystroke? (target: < 10 ms)

Offscreen, the real TrainPage with a model described as Llama-3.1-8B: changes the
batch size, rank, max length and checkpointing in turn and times (a) core.vram.estimate
alone, (b) estimate + suggestions for a card it does not fit, and (c) the panel's whole
update (estimate, suggestions, bar, legend, buttons), as the form triggers it.

    .venv/bin/python scripts/bench_vram_panel.py
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    print(f"{name:48s} median {statistics.median(ms):6.2f} ms   p99 {sorted(ms)[int(len(ms) * 0.99)]:6.2f} ms"
          f"   max {max(ms):6.2f} ms")


def main() -> None:
    from PySide6.QtCore import QSettings

    from studio.core import vram
    from studio.core.models import bundled_model_path, inspect_model
    from studio.core.reference_shapes import MODEL_SHAPES
    from studio.gui.app import create_app
    from studio.gui.app_state import AppState
    from studio.gui.pages.train_page import TrainPage

    app = create_app()
    home = Path(tempfile.mkdtemp())
    os.environ["LORA_STUDIO_HOME"] = str(home)
    model = dataclasses.replace(inspect_model(bundled_model_path()), config=MODEL_SHAPES["llama-3.1-8b"],
                                num_parameters=8_030_261_248)
    state = AppState(QSettings(str(home / "s.ini"), QSettings.Format.IniFormat))
    page = TrainPage(state)
    page.resize(1280, 800)
    page.show()
    state.set_model(model)
    app.processEvents()
    job = page.current_job()

    report("core.vram.estimate", timed(lambda i: vram.estimate(job, model.config), 2000))
    big = dataclasses.replace(job, training=dataclasses.replace(job.training, batch_size=16, max_length=4096))
    report("estimate + suggestions (does not fit 24 GB)",
           timed(lambda i: vram.suggest(big, model.config, 24 * vram.GIB), 300))

    edits = [("training.batch_size", [1, 2, 4, 8, 16]), ("lora.r", [8, 16, 32, 64]),
             ("training.max_length", [512, 1024, 2048, 4096]), ("training.gradient_checkpointing", [True, False])]
    changes = [(name, value) for name, values in edits for value in values] * 10

    def change(i: int) -> None:
        name, value = changes[i]
        page.form.bindings[name].set(value)  # emits changed -> TrainPage._refresh -> panel.show_job

    def panel_only(i: int) -> None:
        name, value = changes[i]
        page.vram_panel._last = None  # force the full redraw path
        page.vram_panel.show_job(model, dataclasses.replace(job, training=dataclasses.replace(
            job.training, batch_size=[1, 2, 4, 8, 16][i % 5])))

    report("panel update (estimate, suggestions, bar, legend)", timed(panel_only, len(changes)))
    report("whole Train page refresh per field change", timed(change, len(changes)))


if __name__ == "__main__":
    main()
