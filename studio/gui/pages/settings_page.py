"""Settings: the system check (the same as ``lora-studio doctor``) and the app's own
preferences. The check runs off the GUI thread: torch is asked in a child process."""

from __future__ import annotations

import typing

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core import doctor, paths
from studio.core.settings import UI_SCALES, Theme, help_of
from studio.gui import theme
from studio.gui.app_state import AppState
from studio.gui.background import run_in_background
from studio.gui.widgets.metric_chart import colours
from studio.gui.widgets.page_title import page_title

STATUS_TEXT = {doctor.OK: "ok", doctor.WARN: "warning", doctor.FAIL: "problem", doctor.INFO: "note"}
STATUS_COLOUR = {doctor.OK: 2, doctor.WARN: 5, doctor.FAIL: 3, doctor.INFO: 0}  # chart colour index


class SettingsPage(QWidget):
    show_guide = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.checks: list[doctor.Check] = []
        heading, subtitle = page_title(
            "Settings", "What this machine can do for training, with the fix for anything missing (the same as "
                        "`lora-studio doctor` in a terminal), and the app's preferences.")
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Check", "Status", "What was found", "Fix"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel()
        self.again = QPushButton("Check again")
        self.again.setToolTip("Run the system check again, e.g. after installing a missing package or a driver")
        self.again.clicked.connect(self.refresh)
        check_box = QGroupBox("System check")
        check_layout = QVBoxLayout(check_box)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.again)
        check_layout.addLayout(row)
        check_layout.addWidget(self.table)

        self.hang_timeout = QSpinBox()
        self.hang_timeout.setRange(0, 24 * 3600)
        self.hang_timeout.setSuffix(" s")
        self.hang_timeout.setMaximumWidth(160)
        self.hang_timeout.setSpecialValueText("never")
        self.hang_timeout.setValue(int(state.settings.hang_timeout_s))
        self.hang_timeout.setToolTip("The Monitor warns that a worker may be hung when training makes no progress "
                                     "for this long (a step, an eval or a checkpoint). 0 = never.")
        self.hang_timeout.valueChanged.connect(lambda v: state.change_settings(hang_timeout_s=float(v), soon=True))
        self.theme_box = QComboBox()
        self.theme_box.addItems(typing.get_args(Theme))
        self.theme_box.setCurrentText(state.settings.theme)
        self.theme_box.setToolTip(help_of("theme"))
        self.theme_box.setMaximumWidth(160)
        self.theme_box.currentTextChanged.connect(self._theme_changed)
        self.scale_box = QComboBox()
        for scale in UI_SCALES:
            self.scale_box.addItem(f"{scale:.0%}", scale)
        self.scale_box.setCurrentIndex(max(0, self.scale_box.findData(state.settings.ui_scale)))
        self.scale_box.setToolTip(help_of("ui_scale"))
        self.scale_box.setMaximumWidth(160)
        self.scale_box.currentIndexChanged.connect(self._scale_changed)
        self.scale_note = QLabel()
        self.scale_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        prefs = QGroupBox("Preferences")
        form = QFormLayout(prefs)
        form.addRow("Warn of a hung worker after", self.hang_timeout)
        form.addRow("Colours", self.theme_box)
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.scale_box)
        scale_row.addWidget(self.scale_note, 1)
        form.addRow("Size of text and controls", scale_row)
        home = QLabel(str(paths.home()))
        home.setToolTip("Runs, the library and converted models live here; set LORA_STUDIO_HOME to move it.")
        form.addRow("Home folder", home)
        guide = QPushButton("Show the first-run guide")
        guide.setToolTip("Train the bundled model on the sample dataset in four clicks")
        guide.clicked.connect(self.show_guide)
        guide.setMaximumWidth(240)
        form.addRow("New here?", guide)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 16)
        layout.addWidget(heading)
        layout.addWidget(subtitle)
        layout.addWidget(check_box, 1)
        layout.addWidget(prefs)
        self._running = False
        self._started_scale = state.settings.ui_scale

    def _scale_changed(self) -> None:
        scale = float(self.scale_box.currentData())
        self.state.change_settings(ui_scale=scale)
        self.scale_note.setText("applies at the next start" if scale != self._started_scale else "")

    def _theme_changed(self, choice: str) -> None:
        self.state.change_settings(theme=choice)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, theme.dark_for(choice))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self.checks and not self._running:
            self.refresh()

    def refresh(self) -> None:
        """Run every check again (a few seconds: torch is asked in a child process)."""
        self._running = True
        self.again.setEnabled(False)
        self.summary.setText("Checking… (torch answers from a separate process)")
        run_in_background(doctor.run_checks, on_done=self.show_checks, on_error=self._failed)

    def show_checks(self, checks: list[doctor.Check]) -> None:
        self._running = False
        self.checks = checks
        self.again.setEnabled(True)
        palette = colours()
        self.table.setRowCount(len(checks))
        for row, check in enumerate(checks):
            status = QTableWidgetItem(STATUS_TEXT[check.status])
            status.setForeground(QColor(palette[STATUS_COLOUR[check.status]]))
            for column, item in enumerate((QTableWidgetItem(check.name), status, QTableWidgetItem(check.detail),
                                           QTableWidgetItem(check.fix))):
                item.setToolTip(check.fix or check.detail)
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
        problems = [c for c in checks if c.status in (doctor.FAIL, doctor.WARN)]
        self.summary.setText("Everything LoRA Studio needs is here." if not problems else
                             f"{len(problems)} thing(s) to look at: see the Fix column.")

    def _failed(self, exc: BaseException) -> None:
        self._running = False
        self.again.setEnabled(True)
        self.summary.setText(f"The check itself failed: {exc}")
