"""Map a table's columns to a format's fields, seeing the first rows read that way as you choose.

A CSV with question/answer columns is alpaca data under other names. The dialog offers
the mapping the column names suggest (core's ``guess_columns``), one box per field of the
chosen format (required ones marked), and reads the file's first rows again on every
change with the loader's own steps (``apply_columns``, then ``normalize_record``), so a
wrong choice shows up here as row errors rather than later as a refused file. The rows
were read once by the page; re-reading ten of them is instant, so it happens on the GUI
thread.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.datasets import (
    FORMAT_HELP,
    FORMAT_NAMES,
    DatasetError,
    RawRecord,
    normalize_record,
)
from studio.core.datasets.columns import (
    FORMAT_FIELDS,
    REQUIRED_FIELDS,
    apply_columns,
    guess_columns,
)
from studio.gui.widgets.dataset_rows import summarize
from studio.gui.widgets.issue_list import RED

UNSET = ""  # a field's box holds this when no column is chosen
DEFAULT_FORMAT = "alpaca"  # offered when the names suggest nothing: the commonest table shape


class ColumnMappingDialog(QDialog):
    preview_updated = Signal()  # the rows below show the current choice

    def __init__(self, file_name: str, records: Sequence[RawRecord], columns: Sequence[str], *,
                 fmt: str | None = None, mapping: Mapping[str, str] | None = None,
                 parent: QWidget | None = None):
        """``records``: the file's first rows as read; ``fmt``/``mapping``: the ones in use on the
        page (None or an empty mapping: start from the guess the column names give)."""
        super().__init__(parent)
        self.setWindowTitle("Map columns")
        self._file = file_name
        self._records = list(records)
        self._columns = list(columns)
        self._guess = guess_columns(self._columns)
        # What the person chose per format, so trying another format and coming back loses nothing.
        self._chosen: dict[str, dict[str, str]] = {}
        if mapping and fmt in FORMAT_NAMES:
            self._chosen[str(fmt)] = {field: column for field, column in mapping.items()}
        start = str(fmt) if fmt in FORMAT_NAMES else self._guess.format if self._guess else DEFAULT_FORMAT
        self.field_boxes: dict[str, QComboBox] = {}
        self._shown = start  # the format whose fields are shown
        self._rows: list[tuple[str, str, str, bool]] = []  # (row, kind, content, bad)
        self._build()
        self.format_combo.setCurrentIndex(self.format_combo.findData(start))
        self._show_fields(start, previous=None)
        self.format_combo.currentIndexChanged.connect(self._on_format_changed)

    # -- what was chosen ------------------------------------------------------------------------

    def chosen_format(self) -> str:
        return str(self.format_combo.currentData())

    def mapping(self) -> dict[str, str]:
        """field -> column, for the fields read from a column of another name."""
        return {field: column for field, box in self.field_boxes.items()
                if (column := str(box.currentData())) and column != field}

    def missing_fields(self) -> list[str]:
        """Required fields of the chosen format that no column is chosen for."""
        return [f for f in REQUIRED_FIELDS[self.chosen_format()] if not self.field_boxes[f].currentData()]

    def choose(self, field: str, column: str) -> None:
        """Pick ``column`` for ``field`` (as a person would in its box)."""
        box = self.field_boxes[field]
        box.setCurrentIndex(box.findData(column))

    def preview_rows(self) -> list[tuple[str, str, str, bool]]:
        """What the preview shows: (row, kind, content, is a bad row) per row."""
        return list(self._rows)

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        intro = QLabel(f"Say which column of <b>{html.escape(self._file)}</b> holds each field the format reads. "
                       "Fields marked <b>*</b> are required; columns not chosen are ignored.")
        intro.setWordWrap(True)
        self.format_combo = QComboBox()
        for name in FORMAT_NAMES:
            self.format_combo.addItem(name, name)
            self.format_combo.setItemData(self.format_combo.count() - 1, FORMAT_HELP[name],
                                          Qt.ItemDataRole.ToolTipRole)
        self.format_combo.setToolTip("The format to read the rows as; its fields are listed below")
        self.format_help = QLabel()
        self.format_help.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        format_row = QHBoxLayout()
        format_row.addWidget(QLabel("Read as:"))
        format_row.addWidget(self.format_combo)
        format_row.addWidget(self.format_help, 1)
        self.fields_box = QGroupBox("Fields")
        self.fields_box.setToolTip("For each field of the format, the column of the file that holds it")
        self.fields_layout = QFormLayout(self.fields_box)
        self.fields_layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(("Row", "Kind", "Content"))
        self.table.setToolTip("The file's first rows as the trainer would read them with this mapping")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        heads = self.table.horizontalHeader()
        heads.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        heads.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        preview_box = QGroupBox("First rows, as they would be read")
        preview_box.setToolTip("Updated with every change; bad rows say what is wrong")
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.addWidget(self.table, 1)
        preview_layout.addWidget(self.summary_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Use this mapping")
        ok.setToolTip("Read the whole file with these columns (possible once every required field has a column)")
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setToolTip("Close without changing how the file is read")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(format_row)
        layout.addWidget(self.fields_box)
        layout.addWidget(preview_box, 1)
        layout.addWidget(self.buttons)

    def _show_fields(self, fmt: str, previous: str | None) -> None:
        self._shown = fmt
        while self.fields_layout.rowCount():
            self.fields_layout.removeRow(0)
        self.field_boxes = {}
        self.format_help.setText(f"reads {FORMAT_HELP[fmt]}")
        required = REQUIRED_FIELDS[fmt]
        for field, column in self._prefill(fmt, previous).items():
            box = QComboBox()
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            if field not in self._columns:  # a column of the field's own name is read whatever is chosen
                box.addItem("(choose a column)" if field in required else "(not used)", UNSET)
            for name in self._columns:
                box.addItem(name, name)
            box.setCurrentIndex(max(0, box.findData(column)))
            box.setToolTip(f"The column that holds '{field}'" + (" (required)" if field in required else
                                                                  " (optional)"))
            box.currentIndexChanged.connect(self._update)
            label = QLabel(f"<b>{field} *</b>" if field in required else field)
            label.setToolTip(box.toolTip())
            self.fields_layout.addRow(label, box)
            self.field_boxes[field] = box
        self._update()

    def _prefill(self, fmt: str, previous: str | None) -> dict[str, str]:
        """A column (or UNSET) per field: what was chosen before for this format, else the guess,
        else a column of the field's own name, else what held the same place in the format shown
        before (instruction -> prompt, output -> completion)."""
        chosen = self._chosen.get(fmt, {})
        guessed = self._guess.mapping if self._guess and self._guess.format == fmt else {}
        carried: dict[str, str] = {}
        if previous is not None:
            before = self._chosen.get(previous, {})
            carried = dict(zip(REQUIRED_FIELDS[fmt], (before.get(f, UNSET) for f in REQUIRED_FIELDS[previous]),
                               strict=False))
        out = {}
        for field in FORMAT_FIELDS[fmt]:
            own = field if field in self._columns else UNSET
            out[field] = chosen[field] if field in chosen else \
                guessed.get(field) or own or carried.get(field, UNSET)
        return out

    # -- reacting -------------------------------------------------------------------------------

    def _on_format_changed(self) -> None:
        self._show_fields(self.chosen_format(), previous=self._shown)

    def _update(self) -> None:
        fmt = self.chosen_format()
        self._chosen[fmt] = {field: str(box.currentData()) for field, box in self.field_boxes.items()}
        missing = self.missing_fields()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not missing)
        self._rows = self._read_rows(fmt)
        self.table.setRowCount(len(self._rows))
        for row, (where, kind, content, bad) in enumerate(self._rows):
            for column, text in enumerate((where, kind, content)):
                item = QTableWidgetItem(text)
                item.setToolTip(content)
                if bad:
                    item.setForeground(QColor(RED))
                self.table.setItem(row, column, item)
        bad = sum(1 for row in self._rows if row[3])
        if missing:
            text = f"Choose a column for {', '.join(missing)}."
        elif bad:
            text = f"{bad} of the first {len(self._rows)} rows can't be read as {fmt} this way."
        else:
            text = f"The first {len(self._rows)} rows can be read as {fmt}."
        colour = RED if missing or bad else ""
        self.summary_label.setText(f"<span style='color:{colour}'>{html.escape(text)}</span>" if colour
                                   else html.escape(text))
        self.preview_updated.emit()

    def _read_rows(self, fmt: str) -> list[tuple[str, str, str, bool]]:
        rows = []
        for record in apply_columns(self._records, self.mapping()):
            try:
                example = normalize_record(record, fmt, file=self._file)
            except DatasetError as e:
                issue = e.to_issue()
                reason = f"field '{issue.field}': {issue.reason}" if issue.field else issue.reason
                rows.append((record.label, "bad row", reason, True))
            else:
                rows.append((record.label, example.kind, summarize(example), False))
        return rows
