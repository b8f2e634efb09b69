"""Merge page: combine library adapters with weights, or merge one into its base model.

Both run as worker jobs (the window never loads torch); this page follows the run
folder for progress (phase, done/total, time left, Cancel: widgets.job_progress) and
lands the result in the library. The preview (rank, size, problems) comes from
core.merging before anything starts. The list of adapters, with the base model each
loads, is read in the pool (gui.library_reads): the GUI thread never opens the library.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core import protocol
from studio.core.job_schema import JobError, job_from_dict
from studio.core.library import Entry, LibraryError
from studio.core.merging import (
    COMBINATIONS,
    HELP,
    WITH_DENSITY,
    adapter_summary,
    adapter_tuner,
    adapter_uses_dora,
    plan,
)
from studio.core.outputs import ExportOutputs, MergeOutputs, outputs_for
from studio.core.records import Record
from studio.gui import run_launcher
from studio.gui.app_state import AppState
from studio.gui.library_reads import NewestRead, entries_and_bases
from studio.gui.run_follower import RunFollower
from studio.gui.widgets.issue_list import IssueList
from studio.gui.widgets.job_progress import JobProgress
from studio.gui.widgets.name_field import saved_as
from studio.gui.widgets.page_title import page_title
from studio.gui.worker_cancel import WorkerCancel

USE, REF, RANK, BASE, WEIGHT = range(5)
PHASES = {"loading_model": "Loading the base model", "merging": "Merging", "saving": "Saving",
          "evaluating": "Checking"}
CANCEL_TIPS = {
    "merge": "Stop the merge now: nothing is added to the library (once it is being added, it is too late)",
    "export": "Stop the export now: the output folder is removed with whatever was written to it",
}


class MergePage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.entries: list[Entry] = []
        self.bases: dict[str, str | None] = {}  # ref -> the base model it loads (None: this machine has none)
        self._listing = NewestRead(self)
        self._preselect: tuple[list[str], str] | None = None  # applied once the list is read
        self.follower: RunFollower | None = None
        self.run_dir: Path | None = None
        self.result: Record | None = None  # the last job's outputs
        self.kind = "merge"  # of the last job: merge or export
        self._filling = False
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Use", "Adapter", "Rank", "Base model", "Weight"])
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(REF, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("The library's adapters: tick two or more of one base model to combine them, and give "
                              "each a weight (how much of its update goes in; a negative one subtracts it).")
        self.combination = QComboBox()
        for name in COMBINATIONS:
            self.combination.addItem(name)
            self.combination.setItemData(self.combination.count() - 1, HELP[name], Qt.ItemDataRole.ToolTipRole)
        self.density = QDoubleSpinBox()
        self.density.setRange(0.01, 1.0)
        self.density.setSingleStep(0.05)
        self.density.setValue(0.5)
        self.density.setToolTip("Share of weights kept by ties / dare / magnitude_prune; 0.5 is typical")
        self.name = QLineEdit()
        self.name.setPlaceholderText("merged-<first adapter>")
        self.name.setToolTip("The merged adapter's name in the library (empty: merged-<first adapter>). A name "
                             "already there gets a new version; letters, digits, '.', '_' and '-' are kept.")
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview.setToolTip("What the merge will produce (rank, modules, size) and the name it lands under, "
                                "worked out before anything starts.")
        self.merge_button = QPushButton("Merge into a new library version")
        self.merge_button.setToolTip("Run the merge as a worker job; the result is added to the library.")
        self.export_adapter = QComboBox()
        self.export_adapter.setToolTip("The library adapter to merge into its base model.")
        self.export_dir = QLineEdit()
        self.export_dir.setPlaceholderText("folder for the full model")
        self.export_dir.setToolTip("Where the full model is written (safetensors, tokenizer, generation config).")
        self.browse = QPushButton("Browse…")
        self.browse.setToolTip("Choose the output folder.")
        self.export_button = QPushButton("Merge into base and export")
        self.export_button.setToolTip("Merge the adapter into its base model and save the full model, then reload "
                                      "it with plain transformers and check it against base + adapter.")
        self.gguf_boxes = {kind: QCheckBox(label) for kind, label in
                           (("q8_0", "q8_0 (half the size)"), ("f16", "f16"))}
        for box in self.gguf_boxes.values():
            box.setToolTip("A GGUF file for llama.cpp and Ollama (Llama-family models), with an Ollama Modelfile; "
                           "reloaded with transformers and checked against the merged model.")
        self.progress = JobProgress(CANCEL_TIPS["merge"])
        self.progress.cancel_clicked.connect(self.cancel_job)
        self.canceller: WorkerCancel | None = None
        self.message = IssueList()
        self._build()
        self.combination.currentIndexChanged.connect(lambda _i: self.update_preview())
        self.density.valueChanged.connect(lambda _v: self.update_preview())
        self.name.textChanged.connect(lambda _t: self.update_preview())
        self.table.itemChanged.connect(lambda _item: None if self._filling else self.update_preview())
        self.merge_button.clicked.connect(self.start_merge)
        self.export_button.clicked.connect(self.start_export)
        self.browse.clicked.connect(self._browse)
        self.export_dir.textChanged.connect(lambda _t: self.update_preview())
        state.library_changed.connect(self.reload)
        state.merge_requested.connect(self.preselect)
        self.reload()

    def _build(self) -> None:
        title, subtitle = page_title("Merge", "Combine adapters of one base model into a new one (peft's weighted "
                                              "merge), or merge an adapter into its base and save the full model.")
        combine = QGroupBox("Combine adapters")
        form = QFormLayout()
        form.addRow(_label("Method", self.combination), self.combination)
        form.addRow(_label("Density", self.density), self.density)
        form.addRow(_label("Name", self.name), self.name)
        combine_layout = QVBoxLayout(combine)
        intro = QLabel("Tick two or more adapters and give each a weight:")
        intro.setToolTip(self.table.toolTip())
        combine_layout.addWidget(intro)
        combine_layout.addWidget(self.table, 1)
        combine_layout.addLayout(form)
        combine_layout.addWidget(self.preview)
        combine_layout.addWidget(self.merge_button)
        export = QGroupBox("Merge into the base model and export")
        export_form = QFormLayout(export)
        export_form.addRow(_label("Adapter", self.export_adapter), self.export_adapter)
        row = QHBoxLayout()
        row.addWidget(self.export_dir, 1)
        row.addWidget(self.browse)
        export_form.addRow(_label("Output folder", self.export_dir), row)
        saved = QLabel("Saved as sharded safetensors with the tokenizer and generation config, then "
                       "reloaded with plain transformers and checked against base + adapter.")
        saved.setWordWrap(True)
        export_form.addRow(saved)
        gguf_row = QHBoxLayout()
        for box in self.gguf_boxes.values():
            gguf_row.addWidget(box)
        gguf_row.addStretch(1)
        export_form.addRow(_label("Also as GGUF", self.gguf_boxes["q8_0"]), gguf_row)
        export_form.addRow(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addWidget(combine, 3)
        layout.addWidget(export)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)

    # -- the adapters ------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the library's adapters in the pool; the table is filled when they come."""
        self._listing.run(entries_and_bases, on_done=self._fill,
                          on_error=lambda exc: self.message.show_note(f"Could not read the library: {exc}", error=True))

    def loading(self) -> bool:
        """The list of adapters is being read (tests wait for it)."""
        return self._listing.pending()

    def _fill(self, found: tuple[list[Entry], dict[str, str | None]]) -> None:
        checked = set(self.checked_refs())  # as they are now: ticked while the list was read, kept
        weights = {ref: w for ref, w in zip(self.checked_refs(), self.weights(), strict=True)}
        self.entries, self.bases = found
        self._filling = True
        self.table.setRowCount(0)  # drops the old weight boxes too
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            use = QTableWidgetItem()
            use.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            use.setCheckState(Qt.CheckState.Checked if entry.ref in checked else Qt.CheckState.Unchecked)
            use.setToolTip(f"Use {entry.ref} in the merge")
            self.table.setItem(row, USE, use)
            for column, text in ((REF, entry.ref), (RANK, str(entry.rank or "?")),
                                 (BASE, entry.base_name or Path(entry.base_id).name or "?")):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(f"{entry.ref}: {entry.method or 'lora'}, rank {entry.rank or '?'}, on "
                                f"{entry.base_name or entry.base_id or '?'}")
                self.table.setItem(row, column, item)
            spin = QDoubleSpinBox()
            spin.setRange(-2.0, 2.0)
            spin.setSingleStep(0.1)
            spin.setToolTip(f"How much of {entry.ref}'s update goes into the merge (1 = all of it; negative "
                            "subtracts it)")
            spin.setValue(weights.get(entry.ref, 1.0))
            spin.valueChanged.connect(lambda _v: self.update_preview())
            self.table.setCellWidget(row, WEIGHT, spin)
        self._filling = False
        current = self.export_adapter.currentText()
        self.export_adapter.clear()
        self.export_adapter.addItems([e.ref for e in self.entries])
        if current:
            self.export_adapter.setCurrentText(current)
        if self._preselect is not None:
            self._apply_preselect(*self._preselect)
            self._preselect = None
        self.update_preview()

    def preselect(self, refs: list[str], mode: str) -> None:
        """Tick ``refs`` (mode "merge") or choose the first to export, once the list is read again."""
        self._preselect = (list(refs), mode)
        self.reload()

    def _apply_preselect(self, refs: list[str], mode: str) -> None:
        if mode == "export" and refs:
            self.export_adapter.setCurrentText(refs[0])
            return
        self._filling = True
        for row, entry in enumerate(self.entries):
            state = Qt.CheckState.Checked if entry.ref in refs else Qt.CheckState.Unchecked
            self.table.item(row, USE).setCheckState(state)
        self._filling = False

    def set_weight(self, ref: str, weight: float) -> None:
        row = next(r for r, e in enumerate(self.entries) if e.ref == ref)
        self.table.cellWidget(row, WEIGHT).setValue(weight)

    def check(self, ref: str, on: bool = True) -> None:
        row = next(r for r, e in enumerate(self.entries) if e.ref == ref)
        self.table.item(row, USE).setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _checked_rows(self) -> list[int]:
        return [r for r in range(self.table.rowCount())
                if self.table.item(r, USE) is not None and self.table.item(r, USE).checkState() == Qt.CheckState.Checked]

    def checked_refs(self) -> list[str]:
        return [self.table.item(r, REF).text() for r in self._checked_rows()]

    def weights(self) -> list[float]:
        return [self.table.cellWidget(r, WEIGHT).value() for r in self._checked_rows()]

    # -- preview -----------------------------------------------------------------------------------

    def update_preview(self) -> None:
        combination = self.combination.currentText()
        self.combination.setToolTip(f"How peft combines the ticked adapters; {combination}: {HELP.get(combination, '')}"
                                    ". Each choice explains itself in the list.")
        self.density.setEnabled(combination in WITH_DENSITY)
        chosen = [e for e in self.entries if e.ref in self.checked_refs()]
        summaries = [adapter_summary(Path(e.path)) for e in chosen]
        merge_plan = plan(combination, [r or 0 for r, _m in summaries], [m for _r, m in summaries], self.weights(),
                          self.density.value(), tuners=[adapter_tuner(Path(e.path)) for e in chosen],
                          dora=[adapter_uses_dora(Path(e.path)) for e in chosen])
        problems = list(merge_plan.problems)
        bases = {e.base_id or e.base_name for e in chosen}
        if len(bases) > 1:
            problems.append("the adapters were trained on different base models")
        name_note, name_problem = self._name_note(chosen, combination)
        if name_problem:
            problems.append(name_problem)
        busy = self.follower is not None
        if problems:
            self.preview.setText("<span style='color:#c62828'>" + "<br>".join(map(_esc, problems)) + "</span>")
        elif chosen:
            size = sum(e.size_bytes for e in chosen[:1]) * (merge_plan.rank or 1) / max(1, summaries[0][0] or 1)
            warnings = "".join(f"<br><span style='color:#b26a00'>Note: {_esc(w)}.</span>" for w in merge_plan.warnings)
            self.preview.setText(f"Result: rank <b>{merge_plan.rank}</b> on {', '.join(merge_plan.target_modules)}; "
                                 f"about <b>{size / 2**20:.1f} MiB</b>. {_esc(HELP[combination].capitalize())}."
                                 f"<br>{name_note}{warnings}")
        else:
            self.preview.setText("")
        self.merge_button.setEnabled(not problems and not busy)
        self.export_button.setEnabled(bool(self.export_adapter.currentText()) and bool(self.export_dir.text().strip())
                                      and not busy)

    def _name_note(self, chosen: list[Entry], combination: str) -> tuple[str, str]:
        """(what the name will be, as rich text; a problem with it): the folder-safe name the merge
        is saved under, and, where that name is taken, that this merge becomes its next version."""
        typed = self.name.text().strip()
        if not typed and not chosen:
            return "", ""
        name, sentence = saved_as(typed or f"merged-{chosen[0].name}")
        if name is None:
            return "", f"name: {sentence}"
        note = f"Saved as <b>{_esc(name)}</b>" + (f" (“{_esc(typed)}” made folder-safe)" if typed and name != typed
                                                 else "")
        taken = [e for e in self.entries if e.name == name]
        if not taken:
            return note + ".", ""
        newest = max(taken, key=lambda e: e.version)
        method = f"merge ({combination})"
        another = (f", made another way ({_esc(method)}, not {_esc(newest.method or 'lora')})"
                   if newest.method != method else "")
        return (f"<span style='color:#b26a00'>{note}: that name is taken (newest {_esc(newest.ref)}), so this merge "
                f"becomes its next version{another}. Give it another name to keep them apart.</span>", "")

    # -- jobs --------------------------------------------------------------------------------------

    def _base_of(self, ref: str) -> str:
        """The base model ``ref`` was trained on, as read with the list, else the chosen model."""
        if ref not in self.bases:
            raise LibraryError(f"{ref or 'no adapter'} is not in the library's list: choose one of its adapters")
        return self.bases[ref] or self.state.job.model.path

    def start_merge(self) -> Path | None:
        refs = self.checked_refs()
        data = {"kind": "merge", "adapters": refs, "weights": self.weights(),
                "combination": self.combination.currentText(), "density": self.density.value(),
                "name": self.name.text().strip()}
        return self._start(data, refs[0] if refs else "")

    def start_export(self) -> Path | None:
        ref = self.export_adapter.currentText()
        data = {"kind": "export", "adapter": ref, "output_dir": self.export_dir.text().strip(),
                "gguf": [kind for kind, box in self.gguf_boxes.items() if box.isChecked()]}
        return self._start(data, ref)

    def _start(self, data: dict[str, Any], first: str) -> Path | None:
        try:
            job = job_from_dict({**data, "model": {"path": self._base_of(first)}}, source="this merge")
            self.run_dir = run_launcher.start_run(job, label=data["kind"])
        except (JobError, LibraryError, run_launcher.LaunchError, OSError) as exc:
            self.message.show_note(str(exc), error=True)
            return None
        self.result = None
        self.kind = str(data["kind"])
        self.canceller = WorkerCancel(self.run_dir)
        self.progress.cancel.setToolTip(CANCEL_TIPS[self.kind])
        self.progress.start(f"Starting the {self.kind} worker…")
        self.message.show_note(f"Running {data['kind']} job {self.run_dir.name}…")
        follower = RunFollower(self.run_dir, parent=self)
        follower.events.connect(self._on_events)
        follower.finished.connect(self._on_finished)
        self.follower = follower.start()
        self.update_preview()
        return self.run_dir

    def _on_events(self, events: list[protocol.Event]) -> None:
        if self.canceller is not None and (problem := self.canceller.seen(events)):
            self._cancel_failed(problem)
        for event in events:
            if isinstance(event, protocol.Phase):
                self.progress.show_count(phase_line(event), event.done, event.total, key=event.name, at=event.t)

    def cancel_job(self) -> None:
        """End the running job at once (sent when its worker listens, if it does not yet)."""
        if self.canceller is not None and (problem := self.canceller.request()):
            self._cancel_failed(problem)

    def _cancel_failed(self, problem: str) -> None:
        self.message.show_note(f"Could not cancel the {self.kind} job: {problem}", error=True)
        self.progress.cancel.setEnabled(True)
        self.progress.cancel.setText("Cancel")

    def _on_finished(self, status: str, final: object) -> None:
        if self.follower is not None:
            self.follower.dispose()
            self.follower = None
        self.progress.finish()
        late = "Too late to cancel: " if self.canceller is not None and self.canceller.wanted else ""
        self.canceller = None
        if isinstance(final, protocol.Done):
            self.result = outputs_for(self.kind, final.outputs, f"the {self.kind} job")
            if isinstance(self.result, MergeOutputs):
                self.message.show_note(f"{late}Merged into {self.result.library_ref} (rank {self.result.rank}); "
                                       "it is in the Library.", ok=True)
            elif isinstance(self.result, ExportOutputs):
                self.message.show_note(
                    f"{late}Saved the full model to {self.result.output_dir}: reloaded with transformers, its "
                    f"logits are within {self.result.max_logit_difference or 0:.1e} of base + adapter.", ok=True)
            self.state.library_changed.emit()
        elif status == "cancelled":
            self.message.show_note("Merge cancelled: nothing was added to the library." if self.kind == "merge"
                                   else "Export cancelled: nothing of it was kept.")
        elif isinstance(final, protocol.Error):
            self.message.show_note(f"The job failed ({final.kind}): {final.message}", error=True)
        else:
            self.message.show_note(f"The job ended without a result ({status}); see worker.log in {self.run_dir}",
                                   error=True)
        self.update_preview()

    def busy(self) -> bool:
        return self.follower is not None

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the merged model")
        if folder:
            self.export_dir.setText(str(Path(folder) / self.export_adapter.currentText().replace("/", "-")))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.follower is None:
            self.reload()


def phase_line(phase: protocol.Phase) -> str:
    """What the job is doing, in words: "Merging: loading pirate/v1 (1 / 2)"."""
    line = PHASES.get(phase.name, phase.name.replace("_", " ").capitalize())
    if phase.detail:
        line += f": {phase.detail}"
    if phase.total:
        line += f" ({phase.done or 0} / {phase.total})"
    return line


def _label(text: str, buddy: QWidget) -> QLabel:
    """A form label that explains itself as its field does."""
    label = QLabel(text)
    label.setToolTip(buddy.toolTip())
    label.setBuddy(buddy)
    return label


def _esc(text: str) -> str:
    return html.escape(text, quote=False)
