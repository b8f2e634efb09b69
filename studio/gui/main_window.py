"""The main window: side navigation, one page per step, and the run lifecycle.

Closing the window while a run trains asks whether to stop it or leave it running;
starting the window finds runs still going (from an earlier window or the CLI) and
follows them again.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from studio import __version__
from studio.core import runs
from studio.gui import run_launcher
from studio.gui.app_state import AppState
from studio.gui.first_run_guide import FirstRunGuide, Step
from studio.gui.page_help import PAGE_HELP, help_html
from studio.gui.pages.compare_page import ComparePage
from studio.gui.pages.datasets_page import DatasetsPage
from studio.gui.pages.library_page import LibraryPage
from studio.gui.pages.merge_page import MergePage
from studio.gui.pages.models_page import ModelsPage
from studio.gui.pages.monitor_page import MonitorPage
from studio.gui.pages.queue_page import QueuePage
from studio.gui.pages.runs_page import RunsPage
from studio.gui.pages.settings_page import SettingsPage
from studio.gui.pages.sweeps_page import SweepsPage
from studio.gui.pages.train_page import TrainPage

PAGE_NAMES = ("Models", "Datasets", "Train", "Monitor", "Queue", "Sweeps", "Runs", "Library", "Merge", "Compare",
              "Settings")
PAGE_KEYS = "123456789"  # Ctrl+1 … Ctrl+9; Ctrl+, for Settings (the usual key for preferences)


class MainWindow(QMainWindow):
    def __init__(self, state: AppState | None = None, reattach: bool = True, guide: bool = False):
        super().__init__()
        self.state = state or AppState()
        self.setWindowTitle(f"LoRA Studio {__version__}")
        self.setMinimumSize(QSize(960, 640))
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(168)
        self.nav.setSpacing(2)
        self.stack = QStackedWidget()
        self.models_page = ModelsPage(self.state)
        self.datasets_page = DatasetsPage(self.state)
        self.train_page = TrainPage(self.state)
        self.monitor_page = MonitorPage(self.state)
        self.queue_page = QueuePage(self.state)
        self.sweeps_page = SweepsPage(self.state)
        self.runs_page = RunsPage(self.state)
        self.library_page = LibraryPage(self.state)
        self.merge_page = MergePage(self.state)
        self.compare_page = ComparePage(self.state)
        self.settings_page = SettingsPage(self.state)
        self.pages: dict[str, QWidget] = {
            "Models": self.models_page, "Datasets": self.datasets_page, "Train": self.train_page,
            "Monitor": self.monitor_page, "Queue": self.queue_page, "Sweeps": self.sweeps_page,
            "Runs": self.runs_page,
            "Library": self.library_page, "Merge": self.merge_page, "Compare": self.compare_page,
            "Settings": self.settings_page}
        for name in PAGE_NAMES:
            page = self.pages[name]
            self.stack.addWidget(page)
            QListWidgetItem(name, self.nav).setToolTip(PAGE_HELP.get(name, ""))
        self.nav.currentRowChanged.connect(self._show_row)
        body = QWidget()
        layout = QHBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(body)
        self.state.run_started.connect(self._on_run_started)
        self.state.compare_requested.connect(self._on_compare_requested)
        for view in (self.monitor_page.view, self.runs_page.view):
            view.checkpoint_clicked.connect(self.state.compare_requested.emit)
            view.next_step.connect(self.open_adapter)
        self.state.page_requested.connect(self.show_page)
        for key, name in zip(PAGE_KEYS, PAGE_NAMES, strict=False):
            QShortcut(QKeySequence(f"Ctrl+{key}"), self, activated=lambda n=name: self.show_page(n))
        QShortcut(QKeySequence("Ctrl+,"), self, activated=lambda: self.show_page("Settings"))
        for keys in ("Ctrl+Return", "F5"):
            QShortcut(QKeySequence(keys), self, activated=self.start_training)
        for keys in ("Shift+F5", "Ctrl+."):
            QShortcut(QKeySequence(keys), self, activated=self.monitor_page.stop_run)
        QShortcut(QKeySequence("Ctrl+Shift+P"), self, activated=self.monitor_page.toggle_pause)
        QShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents), self, activated=self.show_help)
        self.settings_page.show_guide.connect(self.show_guide)
        self._restore()
        if reattach:
            self.reattach_running()
            # A queue left with work (its runner killed with an earlier window, or the machine
            # restarted) goes on: one runner at most, whoever starts it.
            QTimer.singleShot(0, run_launcher.start_queue_runner)
        # Shown once the window is on screen: a dialog shown before its parent is mapped is put
        # behind it by window managers, and a new user would never see it.
        self._guide_pending = guide and not self.state.settings.first_run_done

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._guide_pending:
            self._guide_pending = False
            QTimer.singleShot(0, self.show_guide)

    def show_guide(self) -> FirstRunGuide:
        """The first-run guide (shown once on the first start; Settings shows it again)."""
        from studio.core.models import bundled_model_path, inspect_model
        from studio.core.presets import demo_settings

        def use_bundled_model() -> bool:
            path = bundled_model_path()
            if path is None:
                return False
            self.state.set_model(inspect_model(path))
            self.show_page("Models")
            return True

        def use_sample() -> bool:
            self.state.set_dataset("bundled", "auto")
            self.show_page("Datasets")
            return True

        def use_quick_settings() -> bool:
            self.train_page.form.set_values(demo_settings())
            self.show_page("Train")
            return True

        steps = [
            Step("Use the bundled model", "SmolLM2-135M-Instruct, shipped with the app (Models page).",
                 use_bundled_model),
            Step("Use the sample dataset", "327 chats in a pirate captain's voice (Datasets page).", use_sample),
            Step("Use quick settings", "40 steps of LoRA rank 16: about two minutes on a CPU (Train page: the "
                                       "memory estimate and every setting are there).", use_quick_settings),
            Step("Start training", "A worker process trains; the Monitor page shows it live. Ctrl+Return "
                                   "starts a run from any page next time.", lambda: self.start_training() is not None),
        ]
        self.guide = FirstRunGuide(steps, lambda: self.state.change_settings(first_run_done=True), self)
        self.guide.show()
        self.guide.raise_()
        self.guide.activateWindow()
        return self.guide

    def start_training(self) -> Path | None:
        """The start shortcut: the Train page's job, if it has no problems."""
        if not self.train_page.start_button.isEnabled():
            self.show_page("Train")  # the problems are listed there
            return None
        return self.train_page.start_training()

    def show_help(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("What is this?")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(help_html(self.current_page_name()))
        box.open()
        self.help_box = box

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(PAGE_NAMES.index(name))

    def current_page_name(self) -> str:
        return PAGE_NAMES[self.stack.currentIndex()]

    def _show_row(self, row: int) -> None:
        if row >= 0:
            self.stack.setCurrentIndex(row)
            self.state.window_settings.setValue("window/page", PAGE_NAMES[row])

    def _on_compare_requested(self, adapter: str) -> None:
        self.compare_page.add_adapter(adapter)
        self.show_page("Compare")

    def open_adapter(self, where: str, adapter: str) -> None:
        """A finished run's next step with its adapter (``name/vN``, or a folder): its version in
        the Library, a chat in the Playground, or the Compare page beside the base model."""
        if where == "library":
            self.show_page("Library")
            self.library_page.show_ref(adapter)
        elif where == "playground":
            self.compare_page.chat_with(adapter)
            self.show_page("Compare")
        elif where == "compare":
            self.compare_page.compare_with_base(adapter)
            self.show_page("Compare")

    def _on_run_started(self, run_dir: str) -> None:
        self.monitor_page.follow(Path(run_dir))
        self.show_page("Monitor")

    def reattach_running(self) -> Path | None:
        """Follow the newest run whose worker is still alive (started by a closed window or the CLI)."""
        live = runs.newest_live_run()  # lock files only: no events are read at start-up
        if live is None:
            return None
        self.monitor_page.follow(live)
        self.statusBar().showMessage(f"Reattached to {live.name}, still training", 8000)
        self.show_page("Monitor")
        return live

    def _restore(self) -> None:
        geometry = self.state.window_settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        page = str(self.state.window_settings.value("window/page", "Models"))
        self.show_page(page if page in PAGE_NAMES else "Models")

    def closeEvent(self, event: QCloseEvent) -> None:
        active = self.monitor_page.active_run()
        # Ask only while a worker really holds the run (it may have just ended).
        if active is not None and runs.is_locked(active) and not self._confirm_close(active):
            event.ignore()
            return
        self.state.window_settings.setValue("window/geometry", self.saveGeometry())
        self.state.window_settings.sync()
        self.state.save_settings()  # the last edits of the Train form
        self.compare_page.shutdown()  # the compare worker only serves this window
        event.accept()

    def _confirm_close(self, run_dir: Path) -> bool:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("A run is still training")
        box.setText(f"Run {run_dir.name} is still training.")
        box.setInformativeText("Keep it running in the background (the next start of LoRA Studio "
                               "reattaches to it), or stop it safely now (it saves first)?")
        keep = box.addButton("Keep running", QMessageBox.ButtonRole.AcceptRole)
        keep.setToolTip("Close the window; the run trains on, and the next start of LoRA Studio shows it again")
        stop = box.addButton("Stop and save", QMessageBox.ButtonRole.DestructiveRole)
        stop.setToolTip("Stop the run at the next step, save its adapter, then close the window")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        cancel.setToolTip("Don't close the window")
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        if clicked is stop:
            return self.monitor_page.stop_run()  # if the worker can't be told, keep the window open
        return clicked is keep
