"""A first start of the real app on an X server with a window manager, clicked with xdotool.

Run by test_window_manager.py in its own process (Qt's platform is chosen once per process
and the suite's is offscreen). The app is built as ``lora-studio`` builds it
(``app.create_app`` and ``MainWindow(guide=True)``); every click and key is a real X event
sent by xdotool, through the window manager, to wherever the pointer is: a guide opened
behind the window would take none of them. The outcome is printed as one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, QTimer
from PySide6.QtWidgets import QApplication, QPushButton, QWidget

from studio.gui.app import create_app
from studio.gui.main_window import MainWindow

STEP_TIMEOUT_S = 150.0


def stacking() -> list[int]:
    """Top-level client windows, bottom to top, as the window manager stacks them."""
    out = subprocess.run(["xprop", "-root", "_NET_CLIENT_LIST_STACKING"], capture_output=True, text=True).stdout
    return [int(part.strip(), 16) for part in out.split("#", 1)[-1].split(",") if part.strip()]


def active_window() -> int:
    out = subprocess.run(["xdotool", "getactivewindow"], capture_output=True, text=True).stdout
    return int(out.strip() or 0)


def click(widget: QWidget) -> None:
    """A real left click at the widget's centre, wherever the window manager put it."""
    centre = widget.mapToGlobal(QPoint(widget.width() // 2, widget.height() // 2))
    subprocess.run(["xdotool", "mousemove", "--sync", str(centre.x()), str(centre.y()), "click", "1"], check=True)


def under_pointer(widget: QWidget, settle_s: float = 3.0) -> bool:
    """Whether the widget is what the pointer at its centre is over (nothing covers it), within
    ``settle_s``: on a loaded machine the window manager may still be placing the dialog (a fresh-clone
    CI run beside other suites saw it once), and a user's click comes after that too."""
    deadline = time.monotonic() + settle_s
    while True:
        centre = widget.mapToGlobal(QPoint(widget.width() // 2, widget.height() // 2))
        subprocess.run(["xdotool", "mousemove", "--sync", str(centre.x()), str(centre.y())], check=True)
        QApplication.processEvents()
        if QApplication.widgetAt(centre) is widget or time.monotonic() > deadline:
            return QApplication.widgetAt(centre) is widget
        time.sleep(0.1)


class Session:
    """Steps run in order from a timer: each waits for its condition, then acts."""

    def __init__(self, window: MainWindow):
        self.window = window
        self.report: dict[str, Any] = {}
        self.steps: list[tuple[str, Callable[[], bool], Callable[[], None]]] = []
        self.started = self.began = time.monotonic()
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)

    def then(self, name: str, ready: Callable[[], bool], act: Callable[[], None] = lambda: None) -> None:
        self.steps.append((name, ready, act))

    def run(self) -> None:
        self.timer.start(100)

    def _tick(self) -> None:
        if not self.steps:
            return self._end(None)
        name, ready, act = self.steps[0]
        try:
            if not ready():
                if time.monotonic() - self.started > STEP_TIMEOUT_S:
                    self._end(f"timed out waiting: {name}")
                return
            act()
        except Exception as exc:  # noqa: BLE001 - the report says which step failed and how
            return self._end(f"{name}: {type(exc).__name__}: {exc}")
        self.steps.pop(0)
        self.started = time.monotonic()
        self.report.setdefault("seconds", []).append([name, round(self.started - self.began, 1)])

    def _end(self, error: str | None) -> None:
        self.timer.stop()
        self.report["error"] = error
        print("REPORT " + json.dumps(self.report), flush=True)
        QApplication.quit()


def script(session: Session) -> None:
    window = session.window
    report = session.report

    def guide_shown() -> bool:
        guide = getattr(window, "guide", None)
        return guide is not None and guide.isVisible() and int(guide.winId()) in stacking()

    def check_guide_on_top() -> None:
        order = stacking()
        report["guide_above_window"] = order.index(int(window.guide.winId())) > order.index(int(window.winId()))
        report["guide_active"] = active_window() == int(window.guide.winId())
        report["guide_button_reachable"] = under_pointer(window.guide.buttons[0])

    session.then("the window and its guide are mapped", guide_shown, check_guide_on_top)
    pages = []
    for index, page in enumerate(["Models", "Datasets", "Train"]):
        def step_done(i: int = index) -> bool:
            return window.guide.marks[i].text() == "✓"

        session.then(f"guide step {index + 1} enabled", lambda i=index: window.guide.buttons[i].isEnabled(),
                     lambda i=index: click(window.guide.buttons[i]))
        session.then(f"guide step {index + 1} done", step_done,
                     lambda p=page: pages.append([p, window.current_page_name()]))
    report["pages"] = pages

    def still_on_top() -> None:
        order = stacking()
        report["guide_above_after_steps"] = order.index(int(window.guide.winId())) > order.index(int(window.winId()))

    session.then("the guide stays over the window it drives", lambda: True, still_on_top)
    session.then("Start is offered", lambda: window.guide.buttons[3].isEnabled(),
                 lambda: click(window.guide.buttons[3]))
    monitor = window.monitor_page
    loss = monitor.view.charts.loss

    def first_points() -> None:
        report["page_after_start"] = window.current_page_name()
        report["points_seen"] = [loss.point_count("loss")]

    session.then("the Monitor draws the first steps", lambda: loss.point_count("loss") >= 1, first_points)
    session.then("and more as they come", lambda: loss.point_count("loss") > report["points_seen"][0],
                 lambda: report["points_seen"].append(loss.point_count("loss")))
    session.then("the guide closes", lambda: True, lambda: click(next(
        button for button in window.guide.findChildren(QPushButton) if button.text() == "Close the guide")))

    def stop() -> None:
        report["stop_reachable"] = under_pointer(monitor.stop_button)
        click(monitor.stop_button)

    session.then("the guide is gone", lambda: not window.guide.isVisible(), stop)
    session.then("the run ends", lambda: monitor.active_run() is None,
                 lambda: report.update(status=monitor.view.status,
                                       first_run_done=window.state.settings.first_run_done))


def main() -> int:
    app = create_app()
    window = MainWindow(guide=True)
    window.resize(1280, 800)
    window.show()
    session = Session(window)
    script(session)
    session.run()
    app.exec()
    return 0 if session.report.get("error") is None else 1


if __name__ == "__main__":
    sys.exit(main())
