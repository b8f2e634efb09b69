"""Light or dark, following the system, for Qt widgets and pyqtgraph charts alike."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from studio.gui.visible_indicators import VisibleIndicatorStyle


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        return scheme() == Qt.ColorScheme.Dark
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def dark_for(choice: str) -> bool | None:
    """Settings.theme as ``apply`` takes it: None follows the system."""
    return {"dark": True, "light": False}.get(choice)


def apply(app: QApplication, dark: bool | None = None) -> bool:
    """Fusion style with a palette for the scheme; returns whether it is dark."""
    dark = system_is_dark() if dark is None else dark
    # Fusion, with check box edges of at least 3:1 contrast on the window (WCAG's rule for a
    # control's boundary): Fusion's own vanish in dark and are faint in light.
    app.setStyle(VisibleIndicatorStyle(edge="#9aa0a9", disabled_edge="#50555d") if dark
                 else VisibleIndicatorStyle(edge="#80868f", disabled_edge="#c4c8ce"))
    palette = QPalette()
    if dark:
        colours = {
            QPalette.ColorRole.Window: "#1f2227", QPalette.ColorRole.WindowText: "#e6e6e6",
            QPalette.ColorRole.Base: "#16181c", QPalette.ColorRole.AlternateBase: "#23262c",
            QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#2a2e35",
            QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#3d7be0",
            QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2a2e35",
            QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.PlaceholderText: "#8a8f98",
        }
    else:
        colours = {
            QPalette.ColorRole.Window: "#f4f5f7", QPalette.ColorRole.WindowText: "#1d1f23",
            QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#f0f2f5",
            QPalette.ColorRole.Text: "#1d1f23", QPalette.ColorRole.Button: "#e9ebef",
            QPalette.ColorRole.ButtonText: "#1d1f23", QPalette.ColorRole.Highlight: "#2f6fd6",
            QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#ffffe8",
            QPalette.ColorRole.ToolTipText: "#1d1f23", QPalette.ColorRole.PlaceholderText: "#7a7f88",
        }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    # Disabled controls must look disabled (greyed text), or a blocked Start button
    # looks like a broken one.
    muted = QColor("#6b7079" if dark else "#a3a8b0")
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, muted)
    app.setPalette(palette)
    app.setStyleSheet(NAV_STYLE)
    try:
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, background=colours[QPalette.ColorRole.Base],
                            foreground=colours[QPalette.ColorRole.Text])
    except ImportError:  # pragma: no cover - pyqtgraph is a dependency
        pass
    return dark


NAV_STYLE = """
QListWidget#navigation { border: none; outline: 0; padding-top: 12px; font-size: 14px; }
QListWidget#navigation::item { padding: 9px 14px; border-radius: 6px; margin: 1px 8px; }
QListWidget#navigation::item:selected { background: palette(highlight); color: palette(highlighted-text); }
QListWidget#navigation::item:hover:!selected { background: palette(alternate-base); }
"""


def chart_colours(dark: bool) -> list[str]:
    """Series colours readable on either background."""
    return ["#4e9af1", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948"] if dark else \
           ["#1f6fd1", "#e0701a", "#3d8b37", "#c83a3d", "#8c5a86", "#b8962a"]
