"""How long does the GUI thread stall while the Monitor page follows a busy run?

Offscreen, with the real main window: a writer thread appends valid protocol
events (step, system, eval, sample, checkpoint) and log lines to a fake run's
events.jsonl, a background thread holds the run's lock so it looks live, and the
Monitor page follows it. A 5 ms timer on the GUI thread records the longest gap
between its ticks: that gap is the longest the window could not answer.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/bench_gui_events.py

Prints the longest stall at 100 events/s (target < 50 ms), in a 10,000 events/s
burst, and while the Runs page replays the whole finished run at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_lines(count: int, start_step: int, t0: float, rate: float) -> list[str]:
    """``count`` event lines as a busy worker writes them: mostly steps, some of everything else."""
    from studio.core import protocol

    lines, step = [], start_step
    for i in range(count):
        t = t0 + i / rate
        if i % 50 == 10:
            event = protocol.System(gpus=[{"index": 0, "name": "NVIDIA H100 80GB HBM3", "util_percent": 97,
                                           "mem_used_bytes": 61 << 30, "mem_total_bytes": 80 << 30,
                                           "temp_c": 71, "power_w": 612.0}], cpu_percent=104.0,
                                    rss_bytes=9 << 30, t=t)
        elif i % 200 == 20:
            event = protocol.Eval(step=step, eval_loss=1.4, perplexity=4.05, t=t)
        elif i % 500 == 30:
            event = protocol.Sample(step=step, prompt="Who are you?", text="Ahoy! I be Captain Lora. " * 3, t=t)
        elif i % 1000 == 40:
            event = protocol.Checkpoint(step=step, path=f"/runs/bench/checkpoints/checkpoint-{step}", t=t)
        else:
            step += 1
            event = protocol.Step(step=step, total_steps=10**6, epoch=step / 1000, loss=1.2 + 1.5 / (1 + step / 500),
                                  lr=2e-4, grad_norm=0.4, tokens_per_s=48_000.0, elapsed_s=t - t0,
                                  eta_s=3600.0, t=t)
        lines.append(protocol.encode(event))
    return lines


class Writer(threading.Thread):
    """Appends pre-encoded lines at ``rate`` per second, in 10 ms slices, plus 10 log lines/s."""

    def __init__(self, run_dir: Path, lines: list[str], rate: float):
        super().__init__(daemon=True)
        self.run_dir, self.lines, self.rate = run_dir, lines, rate

    def run(self) -> None:
        from studio.core import runs

        start = time.perf_counter()
        written = logged = 0
        with open(self.run_dir / runs.EVENTS_NAME, "a", encoding="utf-8") as events, \
                open(self.run_dir / runs.LOG_NAME, "a", encoding="utf-8") as log:
            while written < len(self.lines):
                elapsed = time.perf_counter() - start
                due = min(len(self.lines), int(elapsed * self.rate) + 1)
                if due > written:
                    events.write("".join(self.lines[written:due]))
                    events.flush()
                    written = due
                while logged < elapsed * 10:
                    log.write(f"INFO step log line {logged}\n")
                    logged += 1
                log.flush()
                time.sleep(0.01)


class StallMeter:
    """A 5 ms timer on the GUI thread; the longest gap between ticks is the longest stall."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.reset()
        self.timer.start()

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.gaps: list[float] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def report(self) -> tuple[float, float]:
        gaps = sorted(self.gaps) or [0.0]
        return gaps[-1] * 1000, gaps[int(0.99 * (len(gaps) - 1))] * 1000


def pump(app, seconds: float, until=None) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not (until and until()):
        app.processEvents()
        time.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the 100 events/s phase")
    parser.add_argument("--burst-seconds", type=float, default=3.0, help="length of the 10,000 events/s burst")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="lora-studio-bench-"))
    os.environ["LORA_STUDIO_HOME"] = str(home)

    import PySide6
    from PySide6.QtCore import QSettings

    from studio.core import protocol, runs
    from studio.gui.app import create_app
    from studio.gui.app_state import AppState
    from studio.gui.main_window import MainWindow

    app = create_app()
    window = MainWindow(AppState(QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat)), reattach=False)
    window.resize(1280, 800)
    window.show()
    run_dir = runs.create_run_dir("bench")
    (run_dir / runs.JOB_NAME).write_text(json.dumps({"kind": "train", "model": {"path": "bench"}}))
    release = threading.Event()
    locked = threading.Event()

    def hold() -> None:
        with runs.hold_lock(run_dir):
            locked.set()
            release.wait()

    threading.Thread(target=hold, daemon=True).start()
    locked.wait()
    t0 = time.time()
    devices = [{"type": "cpu", "threads": 16},
               {"type": "cuda", "index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_bytes": 80 << 30}]
    (run_dir / runs.EVENTS_NAME).write_text(protocol.encode(protocol.Hello(pid=os.getpid(), devices=devices, t=t0)))
    slow = make_lines(int(100 * args.seconds), 0, t0, 100.0)
    burst = make_lines(int(10_000 * args.burst_seconds), 10**5, t0 + args.seconds, 10_000.0)

    window.state.run_started.emit(str(run_dir))
    page = window.monitor_page
    pump(app, 0.5)
    meter = StallMeter()
    results = []
    for name, lines, rate in (("100 events/s", slow, 100.0), ("10,000 events/s burst", burst, 10_000.0)):
        writer = Writer(run_dir, lines, rate)
        meter.reset()
        redraws = page.view.charts.redraws
        writer.start()
        pump(app, len(lines) / rate + 5, until=lambda w=writer: not w.is_alive())
        pump(app, 0.5)  # let the follower catch up with the tail
        worst, p99 = meter.report()
        results.append((name, worst, p99, len(lines), page.view.charts.redraws - redraws))
    with open(run_dir / runs.EVENTS_NAME, "a", encoding="utf-8") as handle:
        handle.write(protocol.encode(protocol.Done(outputs={"adapter_path": str(run_dir / "adapter")})))
    pump(app, 5, until=lambda: page.active_run() is None)
    release.set()
    points = page.view.charts.loss.point_count("loss")

    total = sum(1 for _ in open(run_dir / runs.EVENTS_NAME, encoding="utf-8"))
    window.show_page("Runs")
    pump(app, 0.3)
    meter.reset()
    window.runs_page.open_run(run_dir)
    pump(app, 1.0)
    replay_worst, _ = meter.report()
    meter.timer.stop()

    print(f"PySide6 {PySide6.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{os.environ['QT_QPA_PLATFORM']}; the loss chart holds {points:,} points")
    for name, worst, p99, count, redraws in results:
        print(f"longest stall: {worst:.1f} ms at {name} ({count:,} events; 99th percentile tick gap "
              f"{p99:.1f} ms; {redraws} chart redraws)")
    print(f"longest stall: {replay_worst:.1f} ms replaying the finished run ({total:,} events) on the Runs page")
    window.close()
    shutil.rmtree(home, ignore_errors=True)
    return 0 if results[0][1] < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
