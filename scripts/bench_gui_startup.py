"""Time from a fresh interpreter to a shown main window, and check torch stayed out.

Target (issue #4): under 2 s on a 2-core machine, without importing torch,
transformers or peft. Runs offscreen unless a display is set. Prints the median of
five cold starts (each a new process).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from studio.gui.app import create_app
app = create_app()
from studio.gui.main_window import MainWindow
w = MainWindow(reattach=False)
w.show()
app.processEvents()
shown = time.perf_counter() - t0
heavy = sorted({"torch", "transformers", "peft"} & set(sys.modules))
print(json.dumps({"shown_s": shown, "heavy": heavy}))
"""


def main() -> None:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    results = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    times = [r["shown_s"] for r in results]
    heavy = sorted({name for r in results for name in r["heavy"]})
    print(f"main window shown in {statistics.median(times):.2f} s (median of 5; min {min(times):.2f}, "
          f"max {max(times):.2f}); heavy modules imported: {heavy or 'none'}")
    if heavy:
        sys.exit(1)


if __name__ == "__main__":
    main()
