"""Queue page: the jobs waiting their turn, the running ones with their progress and ETA, and
the ended ones; reorder, cancel, retry, remove, pause.

The queue lives in ``<home>/queue/queue.sqlite`` (core.queue) and a runner process of its own
starts the jobs, so closing or killing the window stops nothing: the page only reads the
queue (a small SQLite read, every second and a half while it is shown) and changes it.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.queue import devices, runner
from studio.core.queue.store import (
    ACTIVE,
    ENDED,
    NOT_RETRIED,
    PRUNED,
    RETRIABLE,
    Entry,
    QueueError,
    QueueStore,
)
from studio.gui import run_launcher
from studio.gui.app_state import AppState
from studio.gui.background import run_in_background
from studio.gui.page_help import PAGE_HELP
from studio.gui.widgets.list_table import SortKeyItem, style_list_table
from studio.gui.widgets.note_delegate import NoteDelegate, mark_note
from studio.gui.widgets.page_title import page_title
from studio.gui.widgets.run_header import duration

COLUMNS = ("#", "State", "Job", "Needs", "Progress", "ETA", "Run / note")
HEADER_TIPS = {
    "State": "queued, starting, running; then done, stopped (saved early), failed, cancelled, or pruned (a "
             "sweep's trial its pruner stopped early: the note says at which step and why)",
    "ETA": "A running job's time left (from its steps so far); an ended job's time taken. A waiting job has "
           "no estimate until it has run a few steps.",
}
RETRY_TIP = "Queue a failed, stopped or cancelled job again, last in line"
REFRESH_MS = 1500
ENDED_SHOWN = 20
WIDEST_COLUMN = 220  # a long job label is cut (its tooltip has it whole), leaving Run / note its room


class QueuePage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.entries: list[Entry] = []
        heading, subtitle = page_title("Queue", "Jobs run one after another, or side by side on separate GPUs. "
                                                "The queue keeps going when this window closes.")
        heading.setToolTip(PAGE_HELP.get("Queue", ""))
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.pause_button = _button("Pause queue", self.toggle_pause, "Start nothing new; running jobs go on")
        self.stop_on_failure = QCheckBox("Pause when a job fails")
        self.stop_on_failure.setToolTip("Off: a failed job is marked failed and the next one starts. On: the queue "
                                        "pauses after a failure until you resume it.")
        self.stop_on_failure.toggled.connect(self._set_stop_on_failure)
        self.table = QTableWidget(0, len(COLUMNS))
        style_list_table(self.table, COLUMNS, "Run / note")
        for title, tip in HEADER_TIPS.items():
            self.table.horizontalHeaderItem(COLUMNS.index(title)).setToolTip(tip)
        self.table.setSortingEnabled(False)  # the queue's order is the order
        # The buttons act on one entry: a second selected row would be silently left out.
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setMaximumSectionSize(WIDEST_COLUMN)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a run folder's name differs at its end
        self.table.setItemDelegateForColumn(COLUMNS.index("Run / note"), NoteDelegate(self.table))  # a reason: at its end
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.cellDoubleClicked.connect(lambda _r, _c: self.follow())
        self.up_button = _button("Move up", lambda: self.move_selected(-1), "Start this waiting job earlier")
        self.down_button = _button("Move down", lambda: self.move_selected(+1), "Start this waiting job later")
        self.cancel_button = _button("Cancel", self.cancel, "A waiting job: take it out of line. A running job: "
                                                            "its worker cancels at once and saves nothing")
        self.retry_button = _button("Retry", self.retry, RETRY_TIP)
        self.remove_button = _button("Remove", self.remove, "Take a waiting or ended job off the list")
        self.follow_button = _button("Follow live", self.follow, "Watch the running job on the Monitor page")
        self.message = QLabel("")
        self.message.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.stop_on_failure)
        top.addWidget(self.pause_button)
        buttons = QHBoxLayout()
        for button in (self.up_button, self.down_button, self.cancel_button, self.retry_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.follow_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(heading)
        layout.addWidget(subtitle)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        state.queue_changed.connect(self.refresh)
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()

    # -- reading -----------------------------------------------------------------

    def refresh(self) -> None:
        with QueueStore() as store:
            entries = store.entries()
            paused, reason, on_failure = store.paused, store.pause_reason(), store.stop_on_failure
        selected = self.selected_id()  # read against the rows as shown, before they change
        ended = [e for e in entries if e.state in ENDED]
        self.entries = [e for e in entries if e.state not in ENDED] + ended[:ENDED_SHOWN]
        # The selection is kept on the entry, not the row: an entry that ends moves down the list,
        # and the row it left must not stay selected with the next job in it (Cancel would hit
        # that one).
        self.table.blockSignals(True)
        self.table.selectionModel().clear()  # the current row too: Qt selects a removed row's neighbour
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            need = devices.need_of(entry.job_data())
            message = entry.state not in ACTIVE and bool(entry.message)  # else the note is its run folder
            cells = (str(entry.id), entry.state, entry.label,
                     _slots(entry.devices) if entry.devices else _needs(need), _progress(entry), _eta(entry),
                     entry.note)
            for column, text in enumerate(cells):
                item = SortKeyItem(text, entry.id)
                item.setToolTip(_eta_tip(entry) if COLUMNS[column] == "ETA" else entry.message or text)
                self.table.setItem(row, column, item)
            mark_note(self.table.item(row, COLUMNS.index("Run / note")), message)
            if entry.id == selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        waiting = sum(e.state == "queued" for e in entries)
        running = sum(e.state in ACTIVE for e in entries)
        if paused:
            state = "Paused by hand" if reason == "paused by hand" else f"Paused ({reason})" if reason else "Paused"
        else:
            state = "Running" if running else "Idle"
        self.status.setText(f"{state}: {running} running, {waiting} waiting.")
        self.pause_button.setText("Resume queue" if paused else "Pause queue")
        self.pause_button.setToolTip("Start waiting jobs again" if paused else "Start nothing new; running jobs go on")
        self.stop_on_failure.blockSignals(True)
        self.stop_on_failure.setChecked(on_failure)
        self.stop_on_failure.blockSignals(False)
        self._update_buttons()

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()].id if rows and rows[0].row() < len(self.entries) else None

    def select(self, entry_id: int) -> None:
        for row, entry in enumerate(self.entries):
            if entry.id == entry_id:
                self.table.selectRow(row)

    def _selected(self) -> Entry | None:
        entry_id = self.selected_id()
        return next((e for e in self.entries if e.id == entry_id), None)

    def _update_buttons(self) -> None:
        entry = self._selected()
        state = entry.state if entry else ""
        waiting = [e.id for e in self.entries if e.state == "queued"]
        self.up_button.setEnabled(state == "queued" and bool(waiting) and waiting[0] != entry.id)  # type: ignore[union-attr]
        self.down_button.setEnabled(state == "queued" and bool(waiting) and waiting[-1] != entry.id)  # type: ignore[union-attr]
        self.cancel_button.setEnabled(state in ("queued", *ACTIVE))
        self.retry_button.setEnabled(state in RETRIABLE)
        # A disabled button still shows its tooltip: a pruned trial's says why it has no Retry.
        self.retry_button.setToolTip(NOT_RETRIED if state == PRUNED else RETRY_TIP)
        self.remove_button.setEnabled(bool(state) and state not in ACTIVE)
        self.follow_button.setEnabled(bool(entry and entry.run_dir and state in ACTIVE))

    # -- changing ----------------------------------------------------------------

    def move_selected(self, by: int) -> None:
        entry = self._selected()
        if entry is None:
            return
        waiting = [e.id for e in self.entries if e.state == "queued"]
        self._change(lambda store: store.move(entry.id, waiting.index(entry.id) + 1 + by))
        self.select(entry.id)

    def cancel(self) -> None:
        """Off the GUI thread: a started job's worker is asked over its socket, and one that hung up
        without a reply is followed to its end for up to half a minute (control_client.cancel)."""
        if (entry := self._selected()) is None:
            return
        self.cancel_button.setEnabled(False)
        self.message.setText(f"Cancelling #{entry.id} {entry.label}…")
        run_in_background(_cancelled, entry.id, on_done=self._changed, on_error=self._change_failed)

    def _changed(self, text: str) -> None:
        self.message.setText(text)
        self.refresh()

    def _change_failed(self, error: BaseException) -> None:
        if not isinstance(error, QueueError):
            raise error
        self.message.setText(str(error))
        self.refresh()

    def retry(self) -> None:
        if (entry := self._selected()) is not None:
            if self._change(lambda store: _retried(store, entry.id)):
                run_launcher.start_queue_runner()

    def remove(self) -> None:
        if (entry := self._selected()) is not None:
            self._change(lambda store: f"Removed #{entry.id} {store.remove(entry.id).label} from the list"
                         + (" (its run stays on the Runs page)." if entry.run_dir else "."))

    def toggle_pause(self) -> None:
        with QueueStore() as store:
            pause = not store.paused
            store.set_paused(pause, "paused by hand" if pause else "")
        if not pause:
            run_launcher.start_queue_runner()
        self.refresh()

    def follow(self) -> None:
        entry = self._selected()
        if entry is not None and entry.run_dir and entry.state in ACTIVE:
            self.state.run_started.emit(entry.run_dir)

    def _set_stop_on_failure(self, on: bool) -> None:
        with QueueStore() as store:
            store.set_stop_on_failure(on)

    def _change(self, change) -> bool:
        try:
            with QueueStore() as store:
                result = change(store)
        except QueueError as exc:
            self.message.setText(str(exc))
            return False
        self.message.setText(result if isinstance(result, str) else "")
        self.refresh()
        return True


def _cancelled(entry_id: int) -> str:
    """On a pool thread, with its own connection to the queue (SQLite's are per thread)."""
    with QueueStore() as store:
        return runner.cancel(store, entry_id)


def _retried(store: QueueStore, entry_id: int) -> str:
    entry = store.retry(entry_id)
    text = f"#{entry.id} {entry.label} is queued again, last in line."
    if store.paused:  # else the user waits for a start that the pause holds back
        text += " The queue is paused: Resume queue starts it."
    return text


def _needs(need: devices.Need) -> str:
    """A waiting job's column: what it will take (a started one's shows what it got)."""
    if need.exact:
        return _slots(",".join(need.exact))
    return "any GPU"


def _slots(text: str) -> str:
    return "CPU" if text == devices.CPU else f"GPU {text}"


def _progress(entry: Entry) -> str:
    return f"step {entry.step} of {entry.total_steps}" if entry.total_steps else ""


def _eta(entry: Entry) -> str:
    """The ETA column: time left while it runs, the time taken once it ended, and, for a job with no
    estimate (waiting, or too few steps yet), plainly that."""
    if entry.state in ACTIVE:
        if entry.eta_s is not None:
            return f"{duration(entry.eta_s)} left"
        return "starting" if entry.state == "starting" or not entry.step else "no estimate yet"
    if entry.state in ENDED and entry.started_t and entry.ended_t:
        return f"took {duration(entry.ended_t - entry.started_t)}"
    return "no estimate yet" if entry.state == "queued" else ""


def _eta_tip(entry: Entry) -> str:
    added = time.strftime("%H:%M", time.localtime(entry.added_t))
    if entry.state == "queued":
        return f"Added at {added}. A job has an estimate once it has started and run a few steps."
    if entry.state in ACTIVE and entry.eta_s is not None:
        return f"About {duration(entry.eta_s)} left, at this job's pace so far (added at {added})"
    if entry.state in ENDED and entry.started_t and entry.ended_t:
        return (f"Ran {time.strftime('%H:%M', time.localtime(entry.started_t))} to "
                f"{time.strftime('%H:%M', time.localtime(entry.ended_t))} (added at {added})")
    return f"Added at {added}"


def _button(text: str, slot, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(lambda: slot())
    return button
