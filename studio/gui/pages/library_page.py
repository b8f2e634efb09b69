"""Library page: every adapter version, its card, run curve and lineage, and every action.

Listing, a version's relatives, a diff, Train more and Reindex read the library in a
pool thread (gui.library_reads), never on the GUI thread; what the listing read (each
card) shows a selected version at once. The other actions are the CLI's (core.library),
run here because each is a rename or a small write; export and import copy files and
run in the pool. Merging and "merge into base" are worker jobs on the Merge page.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.cards import Card
from studio.core.library import Entry, Library, LibraryError, import_adapter, read_card
from studio.core.methods import METHODS
from studio.core.models import discover_models
from studio.core.stage_names import card_stage
from studio.gui.app_state import AppState
from studio.gui.background import run_in_background
from studio.gui.library_reads import NewestRead, card_diff, continuation, rebuild_index, relatives
from studio.gui.widgets.adapter_details import AdapterDetails
from studio.gui.widgets.issue_list import IssueList
from studio.gui.widgets.library_table import LibraryTable
from studio.gui.widgets.name_field import NameDialog
from studio.gui.widgets.page_title import page_title

EMPTY_NOTE = "The library is empty: every finished training run lands here, or import an adapter."
UNREADABLE_NOTE = "Could not read the library:"
# Every method the app trains (card labels such as "qlora+dora" hold their names), and merges.
METHOD_FILTERS = ("any method", *METHODS, "merge")


def _load(filters: dict) -> tuple[list[Entry], dict[str, str]]:
    """The entries the filters find, and each one's training stage (its card's: the index has none)."""
    with Library() as library:  # its own SQLite connection: this runs in a pool thread
        entries = library.search(**filters)
    return entries, {entry.ref: _stage_of(entry) for entry in entries}


_cards: dict[tuple[str, float], Card | None] = {}  # (folder, card.json's mtime) -> card: read once, in the pool


def _card_of(entry: Entry) -> Card | None:
    key = (entry.path, entry.card_mtime)
    if key not in _cards:
        _cards[key] = read_card(Path(entry.path))
    return _cards[key]


def _stage_of(entry: Entry) -> str:
    return card_stage(_card_of(entry))


class LibraryPage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.entries: list[Entry] = []
        self.stages: dict[str, str] = {}  # ref -> its card's training stage
        self._generation = 0
        self._wanted = ""  # a ref to select once the listing has it (show_ref)
        self._relatives, self._diff, self._continuation = NewestRead(self), NewestRead(self), NewestRead(self)
        self.diff_dialog: QDialog | None = None
        self._shown: tuple[str, tuple[list[str], dict[str, str]]] | None = None  # what the details show
        self.table = LibraryTable()
        self.details = AdapterDetails()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, dataset, notes, tags, base model…")
        self.method_filter = QComboBox()
        self.method_filter.addItems(METHOD_FILTERS)
        self.search.setToolTip("Show only the versions whose name, dataset, notes, tags or base model hold this text")
        self.method_filter.setToolTip("Show only the versions trained with this method, or the merges")
        self.trash_box = QCheckBox("Trash")
        self.trash_box.setToolTip("Show deleted versions (they can be restored)")
        self.count = QLabel()
        self.message = IssueList()
        self.buttons: dict[str, QPushButton] = {}
        self._build()
        self.search.textChanged.connect(lambda _t: self.refresh())
        self.method_filter.currentIndexChanged.connect(lambda _i: self.refresh())
        self.trash_box.toggled.connect(lambda _c: self.refresh())
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.details.lineage.ref_clicked.connect(self.show_ref)
        state.library_changed.connect(self.refresh)
        self.refresh()

    # -- building ------------------------------------------------------------------------------

    def _build(self) -> None:
        title, subtitle = page_title("Library", "Every adapter you trained, imported or merged, with its versions. "
                                                "Select one to see its card, the loss of its run and its lineage.")
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.method_filter)
        filters.addWidget(self.trash_box)
        filters.addWidget(self.count)
        # Two rows: what moves a version in or out, then what edits or organises it.
        moving, editing = QHBoxLayout(), QHBoxLayout()
        actions = QVBoxLayout()
        actions.addLayout(moving)
        actions.addLayout(editing)
        for key, text, tip, slot in (
            ("import", "Import…", "Import a PEFT adapter folder or .zip (not while Trash is ticked)",
             self._ask_import),
            ("export", "Export…", "Copy the selected version out as a folder or .zip that PeftModel loads "
                                  "(select one)", self._ask_export),
            ("push", "Push to Hub…", "Upload the selected version to a Hugging Face Hub model repo, with a model "
                                     "card from its card (select one; needs `huggingface-cli login`)", self._ask_push),
            ("tag", "Tags…", "Add or remove the selected version's tags, comma-separated (select one)",
             self._ask_tags),
            ("notes", "Notes…", "Write a note on the selected version (select one)", self._ask_notes),
            ("rename", "Rename…", "Rename the selected adapter, all its versions (select one)", self._ask_rename),
            ("delete", "Delete", "Move the selected versions to the trash (Trash ticked shows them)",
             self.delete_selected),
            ("restore", "Restore", "Bring the selected versions back from the trash (tick Trash to see them)",
             self.restore_selected),
            ("diff", "Diff", "Compare the cards of two selected versions (select exactly two)", self._show_diff),
            ("merge", "Merge…", "Combine the selected adapters on the Merge page (select two or more)",
             self._request_merge),
            ("train_more", "Train more…", "Keep training the selected adapter on the Train page, as its next "
                                          "version (select one)", self.train_more),
            ("export_model", "Merge into base…", "Merge the selected adapter into its base model and save the full "
                                                 "model (select one)", self._request_export),
            ("reindex", "Reindex", "Rebuild the index from the version folders", self.reindex),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self.buttons[key] = button
            row = moving if key in ("import", "export", "push", "export_model", "merge", "train_more") else editing
            row.addWidget(button)
        moving.addStretch(1)
        editing.addStretch(1)
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(filters)
        column.addWidget(self.table, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([700, 480])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(actions)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)
        self._update_buttons()

    # -- listing -------------------------------------------------------------------------------

    def filters(self) -> dict:
        method = self.method_filter.currentText()
        return {"text": self.search.text().strip(), "method": "" if method == METHOD_FILTERS[0] else method,
                "trashed": self.trash_box.isChecked()}

    def refresh(self, background: bool = True) -> None:
        """List what the filters find; ``background=False`` (tests, scripts) reads on this thread."""
        self._generation += 1
        generation = self._generation
        if not background:
            self._show(generation, _load(self.filters()))
            return
        run_in_background(_load, self.filters(), on_done=lambda loaded: self._show(generation, loaded),
                          on_error=lambda exc: self.message.show_note(f"{UNREADABLE_NOTE} {exc}", error=True))

    def _show(self, generation: int, loaded: tuple[list[Entry], dict[str, str]]) -> None:
        if generation != self._generation:
            return  # a newer filter's answer is coming
        entries, self.stages = loaded
        self.entries = entries
        self.table.set_entries(entries, self.stages)
        total = len(entries)
        self.count.setText(f"{total} version{'s' * (total != 1)}")
        if not entries and not any(self.filters().values()):
            self.message.show_note(EMPTY_NOTE)
        elif any(line.startswith((EMPTY_NOTE, UNREADABLE_NOTE)) for line in self.message.lines()):
            self.message.show_note("")  # read now, and not empty: the earlier note no longer holds
        if self._wanted:  # the unfiltered listing show_ref asked for: the ref is in it, or gone
            self.table.select_ref(self._wanted)
            self._wanted = ""
        self._on_selection()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    # -- selection and details -----------------------------------------------------------------

    def selected(self) -> list[Entry]:
        refs = self.table.selected_refs()
        return [e for e in self.entries if e.ref in refs]

    def show_ref(self, ref: str) -> None:
        """Select ``ref``; one the filters hide is selected once the unfiltered listing has it."""
        self._wanted = "" if self.table.select_ref(ref) else ref
        if self._wanted:
            self.search.clear()
            self.trash_box.setChecked(False)
            self.refresh()

    def _on_selection(self) -> None:
        """The card and lineage from what the listing read, at once; the children the filters
        hide and their stages come from the library in the pool, and fill them in."""
        chosen = self.selected()
        entry = chosen[0] if len(chosen) == 1 else None
        if entry is None:
            self.details.show_entry(None, None, [], [])
        else:
            listed = [e.ref for e in self.entries if entry.ref in e.parents]
            self._show_details(entry, (listed, {ref: self.stages.get(ref, "") for ref in (*entry.parents, *listed)}))
            self._relatives.run(relatives, entry.ref, entry.parents, self.stages,
                                on_done=functools.partial(self._show_relatives, entry),
                                on_error=lambda _exc: None)  # what the listing had stays shown
        self._update_buttons()

    def _show_details(self, entry: Entry, found: tuple[list[str], dict[str, str]]) -> None:
        children, stages = found
        card = _card_of(entry)  # read with the listing, in the pool
        # The lineage tags each version with its stage: an SFT adapter, then its DPO child.
        self.details.show_entry(entry, card, entry.parents, children, {**stages, entry.ref: card_stage(card)})
        self._shown = (entry.ref, found)

    def _show_relatives(self, entry: Entry, found: tuple[list[str], dict[str, str]]) -> None:
        if self.selected() == [entry] and self._shown != (entry.ref, found):
            self._show_details(entry, found)

    def details_pending(self) -> bool:
        """The selected version's relatives are being read (tests wait for them)."""
        return self._relatives.pending()

    def _update_buttons(self) -> None:
        chosen = self.selected()
        trash = self.trash_box.isChecked()
        one = len(chosen) == 1
        enabled = {"import": not trash, "export": one and not trash, "tag": one and not trash,
                   "notes": one and not trash, "rename": one and not trash, "delete": bool(chosen) and not trash,
                   "restore": bool(chosen) and trash, "diff": len(chosen) == 2, "merge": len(chosen) >= 2 and not trash,
                   "export_model": one and not trash, "train_more": one and not trash, "reindex": True,
                   "push": one and not trash}
        for key, button in self.buttons.items():
            button.setEnabled(enabled[key])

    # -- actions (each also callable from tests and scripts) -------------------------------------

    def _changed(self, note: str) -> None:
        self.message.show_note(note, ok=True)
        self.state.library_changed.emit()  # refreshes this page too

    def _failed(self, exc: Exception) -> None:
        self.message.show_note(str(exc), error=True)

    def tag_selected(self, text: str) -> None:
        entry = self.selected()[0]
        wanted = [t.strip() for t in text.split(",") if t.strip()]
        try:
            with Library() as library:
                library.tag(entry.ref, add=wanted, remove=[t for t in entry.tags if t not in wanted])
        except LibraryError as exc:
            self._failed(exc)
            return
        self._changed(f"{entry.ref}: tags {', '.join(wanted) or 'none'}")

    def set_notes(self, text: str) -> None:
        entry = self.selected()[0]
        with Library() as library:
            library.set_notes(entry.ref, text)
        self._changed(f"{entry.ref}: notes saved")

    def rename_selected(self, new_name: str) -> bool:
        entry = self.selected()[0]
        try:
            with Library() as library:
                renamed = library.rename(entry.name, new_name)
        except LibraryError as exc:
            self._failed(exc)
            return False
        saved = renamed[0].name if renamed else new_name  # the folder-safe name, as the library saved it
        typed = f" (typed as “{new_name.strip()}”)" if saved != new_name.strip() else ""
        self._changed(f"Renamed {entry.name} to {saved}{typed}")
        return True

    def delete_selected(self) -> None:
        refs = [e.ref for e in self.selected()]
        with Library() as library:
            for ref in refs:
                library.delete(ref)
        self._changed(f"Moved {', '.join(refs)} to the trash (tick Trash to restore)")

    def restore_selected(self) -> None:
        refs = [e.ref for e in self.selected()]
        try:
            with Library() as library:
                for ref in refs:
                    library.restore(ref)
        except LibraryError as exc:
            self._failed(exc)
            return
        self._changed(f"Restored {', '.join(refs)}")

    def reindex(self) -> None:
        self.message.show_note("Rebuilding the index from the folders…")
        run_in_background(rebuild_index, on_error=self._failed,
                          on_done=lambda rebuilt: self._changed(f"Index rebuilt from the folders: {rebuilt} version(s)"))

    def export_selected(self, destination: str | Path) -> None:
        entry = self.selected()[0]

        def export() -> Path:
            with Library() as library:  # its own SQLite connection: this runs in a pool thread
                return library.export(entry.ref, Path(destination))

        self.message.show_note(f"Exporting {entry.ref}…")
        run_in_background(export, on_done=lambda path: self.message.show_note(f"Exported {entry.ref} to {path}",
                                                                               ok=True),
                          on_error=self._failed)

    def push_selected(self, repo_id: str, private: bool = True) -> None:
        """Upload the selected version to ``repo_id`` off the GUI thread."""
        from studio.core import hub

        entry = self.selected()[0]
        self.message.show_note(f"Pushing {entry.ref} to {repo_id}…")
        run_in_background(hub.push_adapter, Path(entry.path), repo_id, private,
                          on_done=lambda url: self.message.show_note(f"Pushed {entry.ref} to {url}", ok=True),
                          on_error=self._failed)

    def _ask_push(self) -> None:
        entry = self.selected()[0]
        text, ok = QInputDialog.getText(self, "Push to the Hugging Face Hub",
                                        f"Model repo for {entry.ref} (owner/name; created private when missing):")
        if ok and text.strip():
            self.push_selected(text.strip())

    def import_path(self, source: str | Path, allow_pickle: bool = False) -> None:
        folders = self.state.settings.model_paths()

        def do_import():
            with Library() as library:
                return import_adapter(library, Path(source), allow_pickle=allow_pickle,
                                      known_models=discover_models(folders))

        def done(result) -> None:
            warnings = " ".join(f"Warning: {w}." for w in result.warnings)
            self._changed(f"Imported as {result.entry.ref}. {warnings}".strip())
            self.show_ref(result.entry.ref)

        self.message.show_note(f"Importing {source}…")
        run_in_background(do_import, on_done=done, on_error=self._failed)

    # -- dialogs ---------------------------------------------------------------------------------

    def _ask_tags(self) -> None:
        entry = self.selected()[0]
        text, ok = QInputDialog.getText(self, "Tags", f"Tags of {entry.ref} (comma-separated):",
                                        text=", ".join(entry.tags))
        if ok:
            self.tag_selected(text)

    def _ask_notes(self) -> None:
        entry = self.selected()[0]
        text, ok = QInputDialog.getMultiLineText(self, "Notes", f"Notes on {entry.ref}:", entry.notes)
        if ok:
            self.set_notes(text)

    def _ask_rename(self) -> None:
        entry = self.selected()[0]
        dialog = NameDialog("Rename", f"New name for {entry.name} (all versions):", entry.name, self)
        if dialog.exec() == NameDialog.DialogCode.Accepted and dialog.name() not in (None, entry.name):
            self.rename_selected(dialog.edit.text().strip())

    def _ask_export(self) -> None:
        entry = self.selected()[0]
        path, _ = QFileDialog.getSaveFileName(self, "Export adapter", f"{entry.name}-v{entry.version}.zip",
                                              "Zip archive (*.zip);;Folder (*)")
        if path:
            self.export_selected(path)

    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import adapter (.zip)", "", "Zip archive (*.zip)")
        if not path:
            path = QFileDialog.getExistingDirectory(self, "Or import an adapter folder")
        if path:
            self.import_path(path)

    def _show_diff(self) -> None:
        """The cards of the two selected versions side by side, in a dialog once they are read."""
        a, b = self.selected()[:2]
        self._diff.run(card_diff, a, b, on_done=functools.partial(self._open_diff, a, b), on_error=self._failed)

    def _open_diff(self, a: Entry, b: Entry, rows: list[tuple[str, object, object]]) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle(f"{a.ref} vs {b.ref}")
        table = QTableWidget(0, 3, dialog)
        table.setHorizontalHeaderLabels(["field", a.ref, b.ref])
        for key, left, right in rows:
            row = table.rowCount()
            table.insertRow(row)
            for column, value in enumerate((key, json.dumps(left), json.dumps(right))):
                table.setItem(row, column, QTableWidgetItem(str(value)))
        table.resizeColumnsToContents()
        layout = QVBoxLayout(dialog)
        layout.addWidget(table)
        dialog.resize(720, 420)
        dialog.show()
        self.diff_dialog = dialog

    def train_more(self) -> None:
        """Set the Train page up to continue this adapter on its own base model (read in the pool)."""
        ref = self.selected()[0].ref
        self._continuation.run(continuation, ref, on_done=functools.partial(self._continue, ref),
                               on_error=self._failed)

    def _continue(self, ref: str, found: tuple[str | None, dict[str, Any]]) -> None:
        model, settings = found
        job = copy.deepcopy(self.state.job)
        job.lora.continue_from = ref
        job.output.name = ""
        if model:
            job.model.path = model
        # The Method box shows the adapter's own method (the worker keeps training it as it is),
        # so what that method can't do is refused here, not in the worker.
        for name, value in settings.items():
            setattr(job.lora, name, value)
        self.state.set_job(job)
        self.state.page_requested.emit("Train")

    def _request_merge(self) -> None:
        self.state.merge_requested.emit([e.ref for e in self.selected()], "merge")
        self.state.page_requested.emit("Merge")

    def _request_export(self) -> None:
        self.state.merge_requested.emit([e.ref for e in self.selected()], "export")
        self.state.page_requested.emit("Merge")


