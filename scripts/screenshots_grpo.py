"""Screenshots of GRPO in the app: the Train page with the GRPO stage and the arithmetic sample's
rewards, and the Monitor following a finished GRPO run (its reward charts and sampled answers).

Needs a home holding a GRPO run (scripts/grpo_sample_run.py with LORA_STUDIO_HOME set makes one).
Usage: python scripts/screenshots_grpo.py --home DIR [--dark] [--size 960x640]
Saves docs/screenshots/train-grpo[-SIZE][-dark].png and monitor-grpo[-SIZE][-dark].png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True, help="a home holding a finished GRPO run")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--size", help="window size WxH (default 1440x900)")
    args = parser.parse_args()
    os.environ["LORA_STUDIO_HOME"] = str(args.home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))

    from PySide6.QtCore import QSettings
    from screenshots import settle  # scripts/ is this script's folder

    from studio.core import runs
    from studio.gui import theme
    from studio.gui.app import create_app
    from studio.gui.app_state import AppState
    from studio.gui.main_window import MainWindow

    grpo = [run for run in runs.list_runs() if run.status == "done"
            and json.loads((run.path / runs.JOB_NAME).read_text()).get("training", {}).get("stage") == "grpo"]
    if not grpo:
        raise SystemExit(f"no finished GRPO run in {args.home}: run scripts/grpo_sample_run.py with it first")
    app = create_app()
    theme.apply(app, dark=args.dark)
    state = AppState(QSettings(str(args.home / "gui-settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(state, reattach=False)
    width, height = (int(v) for v in (args.size or "1440x900").split("x"))
    window.resize(width, height)
    window.show()
    settle(app, 2.0)
    state.set_dataset("bundled-arithmetic", "auto")
    window.train_page.form.bindings["training.stage"].set("grpo")
    window.monitor_page.follow(grpo[0].path)
    suffix = (f"-{args.size}" if args.size else "") + ("-dark" if args.dark else "")
    OUT.mkdir(parents=True, exist_ok=True)
    for page in ("Train", "Monitor"):
        window.show_page(page)
        settle(app, 2.0)
        path = OUT / f"{page.lower()}-grpo{suffix}.png"
        window.grab().save(str(path))
        print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
