"""Values for the ``{{placeholders}}`` a dataset holds (the job's ``dataset.variables``).

Identity datasets ship "I am {{name}}, made by {{author}}"; trained as written, the
adapter says "{{name}}". One box per placeholder the data holds (and per value already
set, so one can be cleared); an empty box leaves the placeholder as written, which the
Datasets page then reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)


class PlaceholderDialog(QDialog):
    def __init__(self, names: Sequence[str], values: Mapping[str, str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Fill in placeholders")
        self.setMinimumWidth(460)  # the title and the intro in two lines, not six
        intro = QLabel("The data holds these placeholders. Each value replaces <code>{{name}}</code> in every row "
                       "before training; a placeholder left empty is trained as written.")
        intro.setWordWrap(True)
        self.boxes: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for name in dict.fromkeys([*names, *values]):
            box = QLineEdit(values.get(name, ""))
            box.setPlaceholderText("trained as written" if name in names else "not in this file")
            box.setToolTip(f"Replaces {{{{{name}}}}} in every row")
            form.addRow(f"{{{{{name}}}}}", box)
            self.boxes[name] = box
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setToolTip(
            "Use these values in every row (the rows are read again)")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Close, keeping the values set before")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(buttons)

    def values(self) -> dict[str, str]:
        """The values typed (an empty box sets none)."""
        return {name: box.text() for name, box in self.boxes.items() if box.text().strip()}
