"""Start the desktop app: a main window in under two seconds, never importing torch."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path


def has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _xcb_plugin() -> Path | None:
    import PySide6  # only the package folder, not QtWidgets: cheap

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def missing_x11_libraries(plugin: Path | None = None) -> str | None:
    """Why Qt's X11 plugin would not load, or None. Qt itself aborts the process with a
    vague "could not load the Qt platform plugin"; a fresh Debian/Ubuntu desktop often
    lacks libxcb-cursor0 or libxcb-icccm4, and the user deserves their names."""
    uses_x11 = os.environ.get("QT_QPA_PLATFORM", "xcb") == "xcb" and not os.environ.get("WAYLAND_DISPLAY")
    if sys.platform != "linux" or not uses_x11:
        return None
    plugin = plugin or _xcb_plugin()
    if plugin is None:
        return None
    try:  # libQt6XcbQpa needs libxcb-cursor and friends: loading it names the first missing one
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        return str(exc)
    return None


def create_app():
    from PySide6.QtWidgets import QApplication

    from studio.core import settings as user_settings
    from studio.gui import theme

    chosen = user_settings.load()
    if QApplication.instance() is None and chosen.ui_scale != 1.0 and "QT_SCALE_FACTOR" not in os.environ:
        os.environ["QT_SCALE_FACTOR"] = f"{min(max(chosen.ui_scale, 0.5), 3.0):g}"  # read when Qt starts
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("LoRA Studio")
    app.setApplicationName("lora-studio")
    app.setDesktopFileName("lora-studio")  # Wayland/X11 match the window to lora-studio.desktop
    app.setWindowIcon(_icon())
    theme.apply(app, theme.dark_for(chosen.theme))
    # Python's automatic collection runs in whichever thread allocates: in a pool thread
    # (gui.background) it could destroy a widget there, and Qt crashes (seen in the suite).
    # pyqtgraph's collector turns it off and collects on a timer in the GUI thread instead.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    app._garbage_collector = GarbageCollector(interval=1.0)
    return app


def _icon():
    from PySide6.QtGui import QIcon

    from studio.core.resources import desktop_dir

    icon = QIcon()
    for png in sorted((desktop_dir() / "icons").glob("lora-studio-*.png")):
        icon.addFile(str(png))
    return icon


def main(argv: list[str] | None = None) -> int:
    if not has_display():
        print("lora-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset); "
              "`make demo` runs the headless demo, `lora-studio --help` lists the commands.")
        return 1
    missing = missing_x11_libraries()
    if missing:
        print(f"lora-studio: Qt cannot use this X11 display: {missing}. On Debian/Ubuntu: "
              "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0")
        return 1
    app = create_app()
    from studio.gui.main_window import MainWindow

    window = MainWindow(guide=True)
    window.show()
    return app.exec()
