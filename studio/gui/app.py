"""Start the desktop app: a main window in under two seconds, never importing torch."""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def create_app():
    from PySide6.QtWidgets import QApplication

    from studio.gui import theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("LoRA Studio")
    app.setApplicationName("lora-studio")
    theme.apply(app)
    return app


def main(argv: list[str] | None = None) -> int:
    if not has_display():
        print("lora-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset); "
              "`make demo` runs the headless demo, `lora-studio --help` lists the commands.")
        return 1
    app = create_app()
    from studio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()
