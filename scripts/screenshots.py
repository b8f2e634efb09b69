"""Screenshots of every page at 1440x900 into docs/screenshots/ (offscreen or Xvfb).

Trains a short real run of the bundled model first (through the CLI, ~1-2 min on a
2-core CPU) so Monitor and Runs show real curves, then opens each page with the
bundled model and the sample dataset selected and saves ``<page>.png``.
Usage: python scripts/screenshots.py [--home DIR] [--dark] [--size 960x640] [--no-eval] [--pages Queue,Sweeps]
(--size: also the file names, e.g. train-960x640-dark.png; --no-eval: Compare asks but does not evaluate;
--pages: only these pages, and only what they need prepared. Queue and Sweeps show the home's own
queue and sweeps: pass a --home that has some, e.g. one where `lora-studio sweep
docs/examples/sweep-lr-rank.toml` ran and a few jobs were queued)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"


def train_example_run(home: Path) -> None:
    if any((home / "runs").glob("*/adapter")):
        return
    env = dict(os.environ, LORA_STUDIO_HOME=str(home))
    subprocess.run([sys.executable, "-m", "studio.cli.main", "train", "--quiet", "--max-steps", "30",
                    "--max-rows", "160", "--batch-size", "4", "--lr", "1e-3", "--max-length", "128",
                    "--eval-steps", "10", "--save-steps", "15", "--set", "training.sample_steps=15",
                    "--name", "captain-lora"], env=env, check=True, cwd=ROOT)


def fill_library(home: Path) -> None:
    """The example run in the library, and a merge of it (so the lineage has two nodes)."""
    env = dict(os.environ, LORA_STUDIO_HOME=str(home))
    sys.path.insert(0, str(ROOT))
    os.environ["LORA_STUDIO_HOME"] = str(home)
    from studio.core import runs
    from studio.core.library import Library

    library = Library()  # closed below, before the merge subprocess writes
    if not library.entries():
        for run in runs.list_runs():
            if run.status == "done":
                library.add_run(run.path)
    refs = [e.ref for e in library.entries()]
    library.close()
    if refs and not any(r.startswith("merged-") for r in refs):
        subprocess.run([sys.executable, "-m", "studio.cli.main", "merge", refs[0], refs[0], "--combination", "cat",
                        "--weights", "0.6,0.4"], env=env, check=True, cwd=ROOT)


def wait(app, done, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if done():
            return True
        time.sleep(0.02)
    return False


def prepare_compare(app, window, evaluate: bool = True) -> None:
    """Base vs the trained adapter on a held-out prompt, scored on the sample's eval split;
    the report is copied to docs/compare_report_example.md."""
    import shutil

    page = window.compare_page
    trained = [e.ref for e in window.library_page.entries if e.run_id]
    if not trained:
        return
    page.reload_choices()
    wait(app, lambda: not page.looking_up(), 60)
    page.set_adapters(trained[:1])
    page.temperature.setValue(0.0)
    page.max_tokens.setValue(48)
    for prompt in page.prompt_picker.model().stringList() if hasattr(page.prompt_picker.model(), "stringList") \
            else [page.prompt_picker.itemText(i) for i in range(1, 3)]:
        page.prompt.setPlainText(prompt)
        page.ask()
        wait(app, lambda: not page.busy(), 300)
    if not evaluate:
        page.tabs.setCurrentIndex(0)
        return
    page.evaluate()
    wait(app, lambda: not page.evaluating(), 900)
    report = page.save_report()
    if report is not None:
        shutil.copyfile(report, ROOT / "docs" / "compare_report_example.md")
    page.tabs.setCurrentIndex(0)


def settle(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, help="reuse a home folder (keeps the trained run)")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--card", default="141 GB (H200)", help="the memory panel's card (its batch advice too)")
    parser.add_argument("--size", help="window size WxH (default 1440x900, files without a size in their name)")
    parser.add_argument("--no-eval", action="store_true", help="Compare asks, but does not evaluate on the dataset")
    parser.add_argument("--pages", help="comma-separated page names (default: every page)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="lora-studio-shots-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["LORA_STUDIO_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    train_example_run(home)
    fill_library(home)

    from PySide6.QtCore import QSettings

    from studio.core import runs
    from studio.core import settings as user_settings
    from studio.core.resources import bundled_dataset_path
    from studio.gui import theme
    from studio.gui.app import create_app
    from studio.gui.app_state import AppState
    from studio.gui.background import tasks_in_flight
    from studio.gui.main_window import PAGE_NAMES, MainWindow

    app = create_app()
    theme.apply(app, dark=args.dark)
    settings = QSettings(str(home / "gui-settings.ini"), QSettings.Format.IniFormat)
    user_settings.update(vram_card=args.card)
    state = AppState(settings)
    window = MainWindow(state, reattach=False)
    width, height = (int(v) for v in (args.size or "1440x900").split("x"))
    window.resize(width, height)
    window.show()
    settle(app, 2.0)  # the model scan
    if hasattr(window.datasets_page, "open_path"):
        window.datasets_page.open_path(bundled_dataset_path())
    settle(app, 3.0)
    wait(app, lambda: tasks_in_flight() == 0, 60)  # the pages read the library in the background
    finished = [r for r in runs.list_runs() if r.status == "done" and r.total_steps]  # the training run
    if finished:
        window.monitor_page.follow(finished[0].path)
    trained = [e for e in window.library_page.entries if e.run_id]
    if trained:  # the trained one: its card, loss curve, and the merge made from it
        window.library_page.table.select_ref(trained[0].ref)
    pages = [n for n in PAGE_NAMES if n.lower() in args.pages.lower().split(",")] if args.pages else PAGE_NAMES
    merge = window.merge_page
    merge.reload()
    wait(app, lambda: not merge.loading(), 60)
    for entry in merge.entries[:2]:
        merge.check(entry.ref)
    merge.combination.setCurrentText("cat")  # ranks differ: cat (or svd) is what works
    if "Compare" in pages:
        prepare_compare(app, window, evaluate=not args.no_eval)
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = (f"-{args.size}" if args.size else "") + ("-dark" if args.dark else "")
    for name in pages:
        window.show_page(name)
        settle(app, 1.5)
        wait(app, lambda: tasks_in_flight() == 0, 30)  # Sweeps reads its study in the background
        settle(app, 0.5)
        path = OUT / f"{name.lower()}{suffix}.png"
        window.grab().save(str(path))
        print(f"saved {path.relative_to(ROOT)}")
    window.compare_page.shutdown()


if __name__ == "__main__":
    main()
