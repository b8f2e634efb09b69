"""The Train form: every job setting a person tunes, grouped, with help as tooltips.

The form edits a plain job dict. Fields without an editor (the model and dataset
paths, which come from the Models and Datasets pages, or a method combination
only a job file can hold) are kept from the last loaded dict, so loading and then
saving a job never loses anything.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from studio.core.job_schema import Issue, to_dict
from studio.core.jobs import LoraSettings, TrainingSettings, TrainJob, stage_typical
from studio.core.methods import METHODS, apply_method, detect_method, method_fields, tuner
from studio.core.presets import PRESET_FIELDS, method_rechosen
from studio.core.rewards.samples import sample_rewards
from studio.gui.widgets.field_editors import FieldBinding, field_info, guard_wheel, make_binding
from studio.gui.widgets.form_spec import (
    CHOICE_LABELS,
    COLUMNS,
    GPUS,
    METHOD,
    PREFERENCE_FIELDS,
    REWARDS,
    SPECS,
    STAGE_FIELDS,
    TARGET_MODULES,
)
from studio.gui.widgets.gpu_picker import GpuPicker
from studio.gui.widgets.rewards_editor import RewardsEditor
from studio.gui.widgets.target_modules_picker import TargetModulesPicker

CUSTOM = "custom"  # the Method box's entry for a combination loaded from a file
# Job fields the Method box sets: their problems are shown on it.
METHOD_FIELDS = frozenset(f"{section}.{name}" for section, name in method_fields())
# Always shown, whatever the method: continuing an adapter is no method's field.
EVERY_METHOD = frozenset({"lora.continue_from"})
STAGE, BETA = "training.stage", "preference.beta"
_ERROR_STYLE = "color: #d64545; font-weight: 600;"
# A box that is its own caption (the Stage box) is not made bold: bold words would widen it past the form.
_BOX_ERROR_STYLE = "QComboBox { color: #d64545; }"


class JobForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._base: dict[str, Any] = to_dict(TrainJob())
        self._loading = False
        self.bindings: dict[str, FieldBinding] = {}
        self.method_combo = self._method_combo()
        self.target_modules = TargetModulesPicker(field_info(TARGET_MODULES)[1])
        self.gpu_picker = GpuPicker(field_info(GPUS)[1])
        self.rewards_editor = RewardsEditor(field_info(REWARDS)[1])
        # What choosing a stage changed by itself (SimPO's beta), said beside the Stage box.
        self.stage_note = QLabel()
        self.stage_note.setWordWrap(True)
        self.stage_note.setObjectName("stageNote")
        self.stage_note.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        self.stage_note.setVisible(False)
        columns = self.columns = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        columns.setContentsMargins(0, 0, 0, 0)
        columns.setSpacing(16)
        for groups in COLUMNS:
            column = QVBoxLayout()
            column.setSpacing(12)
            labels: list[QLabel] = []
            for title, names in groups:
                column.addWidget(self._group(title, names))
                labels += [self.bindings[n].label for n in names if self.bindings[n].label is not None]
            width = max(label.sizeHint().width() for label in labels)
            for label in labels:  # one label width per column, so the fields line up across groups
                label.setMinimumWidth(width)
            column.addStretch(1)
            columns.addLayout(column, 1)
        self._side_by_side_width = columns.minimumSize().width()
        self._help = {name: b.widget.toolTip() for name, b in self.bindings.items()}
        self._shown_problems: dict[str, list[str]] = {}
        self._refused: dict[str, dict[str, str]] = {}
        self.refusal = ""  # the last typed value a box put back, in words, until the next edit
        self._stage = str(self.bindings[STAGE].get())
        # SFT's learning rate for this model (its size preset's, once one is applied): a preference stage
        # takes its share of it (core.jobs.stage_typical)
        self.sft_learning_rate = TrainingSettings.learning_rate
        # Before _on_edit's connection: the stage's own changes are made before the form says "changed".
        self.bindings[STAGE].changed.connect(self._on_stage_chosen)
        self._method = self.method_combo.currentData()
        self._model_config: dict[str, Any] | None = None
        self.method_combo.currentIndexChanged.connect(self._on_method_chosen)  # before _on_edit's, as the stage's
        for name in stage_typical("sft"):  # the user's own value: the note about the stage's is stale
            self.bindings[name].changed.connect(lambda *_: self._loading or self._say_stage_note(""))
        for binding in self.bindings.values():
            binding.changed.connect(self._on_edit)
            if binding.problem_changed is not None:
                binding.problem_changed.connect(self._on_typed)
            if binding.refused is not None:
                binding.refused.connect(lambda text, name=binding.name: self._on_refused(name, text))
        self._sync_enabled()

    def fit_width(self, width: int) -> None:
        """Columns side by side where ``width`` holds them, else one under the other: at the
        smallest window (960 x 640) side by side they hid behind a horizontal scroll bar."""
        direction = (QBoxLayout.Direction.LeftToRight if width >= self._side_by_side_width
                     else QBoxLayout.Direction.TopToBottom)
        if self.columns.direction() != direction:
            self.columns.setDirection(direction)

    def stacked(self) -> bool:
        return self.columns.direction() == QBoxLayout.Direction.TopToBottom

    # -- the job ---------------------------------------------------------------

    def job_data(self) -> dict[str, Any]:
        """The job as a plain dict: the loaded one, with every editor's value over it."""
        data = copy.deepcopy(self._base)
        for name, binding in self.bindings.items():
            if name != METHOD:
                section, attr = name.split(".")
                data[section][attr] = binding.get()
        method = self.method_combo.currentData()
        return data if method == CUSTOM else apply_method(data, method)

    def set_job_data(self, data: dict[str, Any]) -> None:
        """Show a job dict; keys it lacks take their defaults, unknown keys are dropped."""
        base = to_dict(TrainJob())
        for section, values in (data or {}).items():
            if isinstance(values, dict) and isinstance(base.get(section), dict):
                base[section].update({k: v for k, v in values.items() if k in base[section]})
        self._base = base
        with self._batch():
            for name, binding in self.bindings.items():
                if name != METHOD:
                    section, attr = name.split(".")
                    binding.set(base[section][attr])
            self._set_method(detect_method(base))

    def set_values(self, values: dict[str, Any]) -> None:
        """Set some fields at once (a preset), e.g. ``{"lora.r": 8}``; one ``changed``."""
        with self._batch():
            for name, value in values.items():
                if name in self.bindings:
                    self.bindings[name].set(value)
                else:
                    section, attr = name.split(".")
                    self._base[section][attr] = value

    def value(self, name: str) -> Any:
        """One dotted field of the current job, e.g. ``value("lora.r")``."""
        section, attr = name.split(".")
        return self.job_data()[section][attr]

    def set_model_config(self, config: dict[str, Any] | None) -> None:
        self.target_modules.set_config(config)
        self._model_config = config  # its narrowest layer caps a method's preset rank (_on_method_chosen)

    # -- problems --------------------------------------------------------------

    def typed_issues(self) -> list[Issue]:
        """Text typed into a number box that it can't take (a rank of 0, a learning rate of
        "fast"): the box still holds its last value, so the job would not be what is shown."""
        return [Issue(name, problem) for name, b in self.bindings.items() if (problem := b.problem())]

    def show_issues(self, issues: list[Issue]) -> None:
        """Turn the caption of every field with a problem red, with the problem in its tooltip."""
        by_field: dict[str, list[str]] = {}
        for issue in issues:
            name = METHOD if issue.field in METHOD_FIELDS else issue.field.split("[")[0]
            by_field.setdefault(name, []).append(str(labelled(issue)))
        for name, binding in self.bindings.items():
            problems = by_field.get(name, [])
            if problems == self._shown_problems.get(name, []):
                continue  # runs on every keystroke: touch only the fields whose problems changed
            self._shown_problems[name] = problems
            caption = binding.caption()
            style = _BOX_ERROR_STYLE if isinstance(caption, QComboBox) else _ERROR_STYLE
            caption.setStyleSheet(style if problems else "")
            help_text = self._help[name] + ("\n\nProblem: " + "\n".join(problems) if problems else "")
            for widget in {caption, binding.widget}:
                widget.setToolTip(help_text)

    def set_refused_choices(self, refused: dict[str, dict[str, str]]) -> None:
        """Disable the choices this machine can't run (core.machine_fit.refused_choices: field ->
        {value: why}), with the reason as the item's tooltip: the Method box's entries that load
        the base quantized, the Optimizer box's 8-bit ones."""
        if refused == self._refused:
            return
        self._refused = refused
        quantized = refused.get("model.quantization", {})
        method_why = {m.name: quantized[q] for m in METHODS.values()
                      if (q := m.job_fields.get("model", {}).get("quantization")) in quantized}
        combo = self.method_combo
        for index in range(combo.count()):
            method = combo.itemData(index)
            _offer(combo, index, method_why.get(method), METHODS[method].help if method in METHODS else "")
        optimizers = self.bindings["training.optimizer"].widget
        assert isinstance(optimizers, QComboBox)
        for index in range(optimizers.count()):
            _offer(optimizers, index, refused.get("training.optimizer", {}).get(optimizers.itemData(index)), "")

    def refused_items(self, name: str) -> list[str]:
        """The values of a choice box (METHOD or a field) that are disabled now."""
        combo = self.method_combo if name == METHOD else self.bindings[name].widget
        assert isinstance(combo, QComboBox)
        model = combo.model()
        return [combo.itemData(i) for i in range(combo.count())
                if isinstance(model, QStandardItemModel) and not model.item(i).isEnabled()]

    # -- building --------------------------------------------------------------

    def _group(self, title: str, names: tuple[str, ...]) -> QGroupBox:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        for name in names:
            binding = self._special(name) or make_binding(name)
            self.bindings[name] = binding
            if name == STAGE:  # its choices are short sentences: the group's whole width, named by its title
                binding.label = None
                form.addRow(binding.widget)
                form.addRow(self.stage_note)
            elif binding.label is None:
                form.addRow("", binding.widget)
            else:
                form.addRow(binding.label, binding.widget)
        return box

    def _special(self, name: str) -> FieldBinding | None:
        if name == METHOD:
            combo = self.method_combo
            label = QLabel(SPECS[METHOD].label)
            label.setToolTip(combo.toolTip())
            label.setBuddy(combo)
            return FieldBinding(METHOD, label, combo, combo.currentData, self._set_method,
                                combo.currentIndexChanged)
        if name == REWARDS:
            editor = self.rewards_editor
            label = QLabel(SPECS[REWARDS].label)
            label.setToolTip(editor.text.toolTip())
            label.setBuddy(editor.text)
            return FieldBinding(REWARDS, label, editor, editor.value, editor.set_value, editor.changed,
                                editor.problem, editor.problem_changed)
        if name in (TARGET_MODULES, GPUS):
            picker = self.target_modules if name == TARGET_MODULES else self.gpu_picker
            label = QLabel(SPECS[name].label)
            label.setToolTip(picker.toolTip())
            return FieldBinding(name, label, picker, picker.value, picker.set_value, picker.changed)
        return None

    def _method_combo(self) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(METHOD)
        for index, method in enumerate(METHODS.values()):
            combo.addItem(method.label, method.name)
            combo.setItemData(index, method.help, Qt.ItemDataRole.ToolTipRole)
        combo.setToolTip("The adapter method to train:\n" + "\n".join(f"• {m.help}" for m in METHODS.values()))
        guard_wheel(combo)
        return combo

    def _set_method(self, method: str | None) -> None:
        combo = self.method_combo
        custom = combo.findData(CUSTOM)
        if method is None:  # keep the loaded combination as it is
            label = LoraSettings(**self._base["lora"]).method_label(self._base["model"]["quantization"])
            if custom < 0:
                combo.addItem(f"Custom ({label})", CUSTOM)
                custom = combo.count() - 1
            else:  # another combination than the last loaded one: say which
                combo.setItemText(custom, f"Custom ({label})")
            combo.setCurrentIndex(custom)
            return
        combo.setCurrentIndex(combo.findData(method))
        if custom >= 0:
            combo.removeItem(custom)

    def _on_method_chosen(self, *_args: Any) -> None:
        """A size preset's values for the chosen method (core.presets.method_rechosen: VeRA's rank 256
        and ten times the rate): rank, alpha, dropout and learning rate still at a preset's for the
        previous method take that preset's for this one; values the person set are never changed."""
        method, previous = self.method_combo.currentData(), self._method
        self._method = method
        if self._loading or method not in METHODS or previous not in METHODS:
            return
        current = {name: self.bindings[name].get() for name in PRESET_FIELDS}
        for name, value in method_rechosen(current, previous, method, self._model_config).items():
            self._set_quietly(self.bindings[name], value)
            if name == "training.learning_rate":  # the SFT rate a preference stage takes its share of
                self.sft_learning_rate = float(value)

    # -- the training stage ----------------------------------------------------

    def stage(self) -> str:
        return str(self.bindings[STAGE].get())

    def _on_stage_chosen(self, *_args: Any) -> None:
        """A stage's usual values (core.jobs.stage_typical: SimPO's beta, about 20x DPO's; a preference
        stage's learning rate, a tenth of SFT's): a field still at the previous stage's usual value
        takes the new one, a value the user typed is never changed, and what changed is said beside
        the box."""
        if self._loading:
            return
        stage, previous = self.stage(), self._stage
        self._stage = stage
        before, after = stage_typical(previous, self.sft_learning_rate), stage_typical(stage, self.sft_learning_rate)
        changed = []
        for name, value in after.items():
            binding = self.bindings[name]
            if value != before[name] and _same(binding.get(), before[name]):
                self._set_quietly(binding, value)
                changed.append(f"{SPECS[name].label.split(' (')[0].lower()} {value:g}")
        rewards = self.bindings[REWARDS]
        if stage == "grpo" and not rewards.get() and (shipped := sample_rewards(self._base["dataset"]["path"])):
            self._set_quietly(rewards, shipped)  # the shipped prompts' own rewards (as the CLI gives them)
            changed.append("the sample's rewards")
        words = CHOICE_LABELS[STAGE].get(stage, stage).split(" —")[0]
        self._say_stage_note(f"Set to {words}'s usual: {', '.join(changed)} (yours are never changed)."
                             if changed else "")

    def _set_quietly(self, binding: FieldBinding, value: Any) -> None:
        """Set a field as part of another edit: the form says "changed" once, for that edit."""
        self._loading = True
        try:
            binding.set(value)
        finally:
            self._loading = False

    def _say_stage_note(self, text: str) -> None:
        self.stage_note.setText(text)
        self.stage_note.setVisible(bool(text) and self.stage() != "sft")

    # -- change notification ---------------------------------------------------

    def _on_edit(self, *_args: Any) -> None:
        if not self._loading:
            self.refusal = ""
            self._sync_enabled()
            self.changed.emit()

    def _on_typed(self, *_args: Any) -> None:
        if not self._loading:
            self.changed.emit()

    def _on_refused(self, name: str, text: str) -> None:
        self.refusal = f"{field_label(name)}: {text}."
        if not self._loading:
            self.changed.emit()

    def _sync_enabled(self) -> None:
        epochs = self.bindings["training.epochs"].widget
        if epochs.isEnabled() != (not self.bindings["training.max_steps"].get()):
            epochs.setEnabled(not epochs.isEnabled())  # max_steps > 0 overrides epochs
        uses = self.method_uses()
        for name, binding in self.bindings.items():
            section, _, attr = name.partition(".")
            if section == "lora" and name not in EVERY_METHOD:
                _show(binding, attr in uses)
        read = STAGE_FIELDS.get(self.stage(), ())
        for name in PREFERENCE_FIELDS:  # a stage's own settings, only for that stage
            _show(self.bindings[name], name in read)

    def method_uses(self) -> tuple[str, ...]:
        """The lora fields the chosen method reads (its record's ``uses``): only those are shown."""
        method = self.method_combo.currentData()
        if method in METHODS:
            return METHODS[method].uses
        try:  # a combination from a file: its tuner's
            return tuner(str(self._base["lora"].get("tuner", "lora"))).uses
        except KeyError:
            return tuple(name.split(".", 1)[1] for name in self.bindings if name.startswith("lora."))

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """Set many editors, then say ``changed`` once."""
        self._loading = True
        try:
            yield
        finally:
            self._loading = False
            if self.stage() != self._stage:  # a loaded job's stage: its beta is the file's own
                self._stage = self.stage()
                self._say_stage_note("")
            self._sync_enabled()
            self.changed.emit()


# Fields a Train page message may name that have no editor of their own on the form.
_OTHER_LABELS = {"model.path": "Model", "dataset.path": "Dataset", "dataset.format": "Dataset format",
                 "dataset.columns": "Dataset columns", "dataset.variables": "Placeholders",
                 "dataset.text_split": "Text split", "dataset.tools": "Tools"}
_DOTTED = re.compile(r"\b(?:model|lora|training|preference|dataset|output|distributed)\.[a-z_]+\b")


def field_label(field: str) -> str:
    """The form's label of a dotted job field ("training.learning_rate" -> "Learning rate"); the
    method's fields are the Method box's. Unknown fields keep their dotted name."""
    name = field.split("[")[0]
    if name in METHOD_FIELDS:
        return SPECS[METHOD].label
    spec = SPECS.get(name)
    return spec.label if spec is not None else _OTHER_LABELS.get(name, field)


def labelled(issue: Issue) -> Issue:
    """``issue`` in the form's words: its field, and any field its message names, by label."""
    def words(match: re.Match[str]) -> str:
        label = field_label(match.group(0))
        return match.group(0) if label == match.group(0) else f"“{label}”"

    return Issue(field_label(issue.field) if issue.field else "", _DOTTED.sub(words, issue.message))


def _show(binding: FieldBinding, shown: bool) -> None:
    for widget in (binding.label, binding.widget):
        if widget is not None and widget.isHidden() == shown:
            widget.setHidden(not shown)


def _same(value: Any, target: float) -> bool:
    return isinstance(value, int | float) and abs(float(value) - target) < 1e-9


def _offer(combo: QComboBox, index: int, why: str | None, help_text: str) -> None:
    """Enable a choice, or disable it with why this machine can't run it as its tooltip."""
    model = combo.model()
    if isinstance(model, QStandardItemModel):
        model.item(index).setEnabled(why is None)
    tip = f"Not on this machine: {why}" if why else help_text
    combo.setItemData(index, tip or None, Qt.ItemDataRole.ToolTipRole)
