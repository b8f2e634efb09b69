"""Compare page: the base and up to four adapters answer the same prompt side by side.

Answers stream from one warm ``serve`` worker (gui.compare_session); an ``eval`` job
fills the metrics table (best per column highlighted); the adapters' card
differences and their runs' loss curves are one tab away; blind A/B hides and
shuffles the columns and tallies the user's picks; the whole comparison saves as a
Markdown report in the library. The Playground tab chats with one model. The eval job
shows its progress (model n of all, how far into it, time left) with a Cancel.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.core import compare_report, paths, protocol
from studio.core.cards import Card
from studio.core.compare_report import METRIC_COLUMNS, Comparison
from studio.core.datasets import tools_in
from studio.core.job_schema import JobError, job_from_dict
from studio.core.library import Library, LibraryError, base_model_of, locate_adapter, read_card
from studio.core.resources import eval_prompts, resolve_dataset_path
from studio.core.stage_names import without_preference_perplexity
from studio.gui import run_launcher
from studio.gui.app_state import AppState
from studio.gui.background import run_in_background
from studio.gui.compare_session import CompareSession, loading_row, sampling_help
from studio.gui.eval_progress import EvalProgress
from studio.gui.library_reads import NewestRead, library_refs
from studio.gui.run_follower import RunFollower
from studio.gui.widgets.issue_list import IssueList
from studio.gui.widgets.job_progress import JobProgress
from studio.gui.widgets.loss_overlay import LossOverlay
from studio.gui.widgets.page_title import page_title
from studio.gui.widgets.playground import Playground
from studio.gui.widgets.tools_dialog import Tools, ToolsDialog, tools_summary

BASE = "base"
SLOTS = 4
NONE = "(none)"
BEST = QColor(76, 175, 80, 90)
CANCEL_GRACE_MS = 5000  # a cancelled worker that has not ended by then did not get the command
LOOKUP_DELAY_MS = 250  # after the last keystroke in an adapter box: one library lookup, not one per key


def look_up(adapters: list[str], fallback: str) -> tuple[str, dict[str, Card | None]]:
    """(the base the adapters were trained on: the first one's card, else ``fallback``; the
    card.json of each adapter that can be found). Reads files and the library index: off the
    GUI thread while the user types (ComparePage schedules it)."""
    base, cards = None, {}  # type: str | None, dict[str, Card | None]
    with Library() as library:
        for adapter in adapters:
            try:
                folder, _ref = locate_adapter(adapter, library)
            except LibraryError:
                continue  # a typo'd or half-typed name has no card
            base = base or base_model_of(folder)
            cards[adapter] = read_card(folder)
    return base or fallback, cards


class CompareColumn(QGroupBox):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = ""
        self.view = QTextBrowser()
        self.vote = QPushButton("This one is better")
        self.vote.setToolTip("Blind A/B: count a point for this answer, then show which model wrote each")
        self.vote.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.vote)

    def start(self, model: str, title: str) -> None:
        self.model = model
        self.setTitle(title)
        self.view.clear()

    def add(self, text: str) -> None:
        cursor = self.view.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(text)
        self.view.setTextCursor(cursor)

    def text(self) -> str:
        return self.view.toPlainText()


class ComparePage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.session = CompareSession(self)
        self.request: str | None = None
        self.comparison: Comparison | None = None
        self.eval_follower: RunFollower | None = None
        self.eval_run: Path | None = None
        self.eval_progress = EvalProgress()
        self.pending: set[str] = set()
        self.base_box = QCheckBox("Base model alone")
        self.base_box.setChecked(True)
        self.base_box.setToolTip("Also ask the base model without any adapter: the answer to beat")
        self.slots = [QComboBox() for _ in range(SLOTS)]
        for number, combo in enumerate(self.slots, start=1):
            combo.setEditable(True)  # a library reference, or a folder (a checkpoint, say)
            combo.setMinimumWidth(150)
            # Sized by the room it gets, not by its longest library name (which pushed the row off the window).
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
            combo.setToolTip(f"Adapter {number}: a library version (name/v2), or type an adapter folder such as a "
                             f"checkpoint; {NONE} leaves this column out")
        self.base_label = QLabel()
        self.base_label.setToolTip("The base model the adapters are applied to: the one the first adapter was "
                                   "trained on, else the model chosen on the Train page")
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Type a prompt, or pick one below")
        self.prompt.setToolTip("Sent as one user turn through the model's chat template to every chosen model")
        self.prompt.setMaximumHeight(70)
        self.prompt_picker = QComboBox()
        self.prompt_picker.setToolTip("Held-out prompts, and user turns from the eval split of the dataset chosen "
                                      "on the Datasets page (rows training did not see)")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setToolTip(sampling_help("temperature") + " 0 gives the same answer every time.")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setValue(96)
        self.max_tokens.setToolTip(sampling_help("max_new_tokens"))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip(sampling_help("seed") + " The same seed and temperature give the same answers.")
        self.blind = QCheckBox("Blind A/B")
        self.blind.setToolTip("Hide which model wrote which answer and shuffle them; pick the better one")
        self.ask_button = QPushButton("Ask")
        self.ask_button.setToolTip("Ask every chosen model the prompt; the first question loads the models "
                                   "(they stay loaded for the next)")
        self.evaluate_button = QPushButton("Evaluate on the dataset")
        self.evaluate_button.setToolTip("Score the base and each adapter on the dataset's eval split: loss, "
                                        "perplexity, and ROUGE-L / exact match of 8 greedy answers")
        self.report_button = QPushButton("Save report")
        self.report_button.setToolTip("Save the answers, metrics, blind votes and config differences as a "
                                      "Markdown report in the library folder")
        self.eval_bar = JobProgress("Stop the evaluation now; no scores are kept")
        self.eval_bar.cancel_clicked.connect(self.cancel_evaluation)
        self.load_bar = loading_row(self.session)  # the first prompt waits for the model: Answers and Playground
        self.columns = [CompareColumn() for _ in range(SLOTS + 1)]
        self.metrics = QTableWidget(0, 1 + len(METRIC_COLUMNS))
        self.metrics.setHorizontalHeaderLabels(["model", *(t for t, _k in METRIC_COLUMNS)])
        self.diff_table = QTableWidget(0, 1)
        self.curves = LossOverlay()
        self.tools: Tools = ()  # what Ask and the Playground's prompts may call
        self.tools_button = QPushButton()
        self.tools_button.clicked.connect(lambda: self.open_tools_dialog())
        self._show_tools()
        self.playground = Playground(self.session, self.base_model, lambda: self.tools)
        self.tally: dict[str, int] = {}
        self.status = IssueList()
        self._build()
        self.ask_button.clicked.connect(lambda: self.ask())
        self.evaluate_button.clicked.connect(lambda: self.evaluate())
        self.report_button.clicked.connect(lambda: self.save_report())
        self.prompt_picker.activated.connect(self._pick_prompt)
        self.session.token.connect(self._on_token)
        self.session.answer.connect(self._on_answer)
        self.session.warning.connect(lambda text: self.status.show_note(text, error=True))
        self.session.ended.connect(self._on_session_end)
        self.session.refused.connect(self._on_refused)
        for column in self.columns:
            column.vote.clicked.connect(lambda _=False, c=column: self.vote(c.model))
        self._lookup_timer = QTimer(self, singleShot=True, interval=LOOKUP_DELAY_MS)
        self._lookup_timer.timeout.connect(self._models_changed)
        self._lookups = 0  # the newest lookup's number: an older one's answer is dropped
        self._pending_lookup = False
        self._choices = NewestRead(self)  # the library's refs for the boxes, read in the pool
        for combo in self.slots:
            combo.currentTextChanged.connect(lambda _t: self._lookup_timer.start())
        state.library_changed.connect(self.reload_choices)
        self.reload_choices()

    # -- building ----------------------------------------------------------------------------------

    def _build(self) -> None:
        title, subtitle = page_title("Compare", "Ask the base model and up to four adapters the same question and "
                                                "read the answers side by side; score them on a dataset.")
        # Two rows of two adapters: one row of four ran off a 960-pixel window.
        models = QGridLayout()
        models.setContentsMargins(0, 0, 0, 0)
        models.addWidget(self.base_box, 0, 0)
        models.addWidget(self.base_label, 1, 0)
        for index, combo in enumerate(self.slots):
            row, column = divmod(index, 2)
            label = QLabel(f"Adapter {index + 1}")
            label.setBuddy(combo)
            models.addWidget(label, row, 1 + 2 * column)
            models.addWidget(combo, row, 2 + 2 * column)
        models.setColumnStretch(2, 1)
        models.setColumnStretch(4, 1)
        sampling = QHBoxLayout()
        sampling.addWidget(self.prompt_picker, 1)
        for label, widget in (("Temperature", self.temperature), ("Max tokens", self.max_tokens),
                              ("Seed", self.seed)):
            sampling.addWidget(QLabel(label))
            sampling.addWidget(widget)
        sampling.addWidget(self.blind)
        sampling.addWidget(self.ask_button)
        answers = QWidget()
        grid = QGridLayout(answers)
        grid.setContentsMargins(0, 0, 0, 0)
        for index, column in enumerate(self.columns):
            grid.addWidget(column, 0, index)
        metrics = QWidget()
        metrics_layout = QVBoxLayout(metrics)
        metrics_layout.addWidget(self.metrics)
        self.tabs = QTabWidget()
        self.tabs.addTab(answers, "Answers")
        self.tabs.addTab(metrics, "Metrics")
        self.tabs.addTab(self.diff_table, "Config diff")
        self.tabs.addTab(self.curves, "Loss curves")
        self.tabs.addTab(self.playground, "Playground")
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.tools_button)
        actions.addWidget(self.evaluate_button)
        actions.addWidget(self.report_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(models)
        layout.addWidget(self.prompt)
        layout.addLayout(sampling)
        layout.addLayout(actions)
        layout.addWidget(self.eval_bar)
        layout.addWidget(self.load_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)

    # -- choosing ----------------------------------------------------------------------------------

    def reload_choices(self) -> None:
        self._choices.run(library_refs, on_done=self._show_choices, on_error=lambda exc: self.status.show_note(
            f"Could not read the library: {exc}", error=True))
        self.prompt_picker.clear()
        self.prompt_picker.addItem("Pick a prompt…")  # where they come from: the tooltip
        self.prompt_picker.addItems(eval_prompts())
        job = self.state.job
        run_in_background(dataset_prompts, self.state.dataset_path, self.state.dataset_format,
                          job.dataset.eval_fraction, job.training.seed, on_done=self._add_dataset_prompts, on_error=lambda _exc: None)
        self._models_changed()

    def _show_choices(self, refs: list[str]) -> None:
        for combo in self.slots:
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([NONE, *refs])
            combo.setCurrentText(current if current else NONE)
            combo.blockSignals(False)

    def _add_dataset_prompts(self, prompts: list[str]) -> None:
        known = {self.prompt_picker.itemText(i) for i in range(self.prompt_picker.count())}
        self.prompt_picker.addItems([p for p in prompts if p not in known])

    def set_adapters(self, adapters: list[str]) -> None:
        for combo, adapter in zip(self.slots, [*adapters, *([NONE] * SLOTS)], strict=False):
            combo.setCurrentText(adapter)

    def add_adapter(self, adapter: str) -> None:
        """Put an adapter (e.g. a checkpoint folder from Runs) into the first free slot."""
        free = next((c for c in self.slots if c.currentText() in ("", NONE)), self.slots[-1])
        free.setCurrentText(adapter)

    def compare_with_base(self, adapter: str) -> None:
        """The base model and ``adapter`` alone, on the Answers tab (a finished run's next step)."""
        self.base_box.setChecked(True)
        self.set_adapters([adapter])
        self.tabs.setCurrentIndex(0)

    def chat_with(self, adapter: str) -> None:
        """The Playground tab, chatting with ``adapter`` (added to the chosen models if missing)."""
        if adapter not in self.adapters():
            self.add_adapter(adapter)
        self.playground.set_models(self.models() or [BASE])  # the lookup under way keeps this choice
        self.playground.model.setCurrentText(adapter)
        self.tabs.setCurrentWidget(self.playground)

    def adapters(self) -> list[str]:
        return list(dict.fromkeys(c.currentText().strip() for c in self.slots
                                  if c.currentText().strip() not in ("", NONE)))

    def models(self) -> list[str]:
        return ([BASE] if self.base_box.isChecked() else []) + self.adapters()

    def base_model(self) -> str:
        """The base the adapters were trained on (the first one's card), else the chosen model."""
        return look_up(self.adapters(), self.state.job.model.path)[0]

    def cards(self) -> dict[str, Card | None]:
        """card.json of each chosen adapter that can be found (a typo'd folder has none)."""
        return look_up(self.adapters(), self.state.job.model.path)[1]

    def looking_up(self) -> bool:
        """A lookup, or the library's refs for the boxes, scheduled or being read (tests wait for it)."""
        return self._lookup_timer.isActive() or self._pending_lookup or self._choices.pending()

    def _models_changed(self) -> None:
        self._lookup_timer.stop()
        self._lookups += 1
        self._pending_lookup = True
        run_in_background(look_up, self.adapters(), self.state.job.model.path,
                          on_done=functools.partial(self._show_models, self._lookups),
                          on_error=functools.partial(self._lookup_failed, self._lookups))

    def _lookup_failed(self, number: int, exc: BaseException) -> None:
        if number == self._lookups:
            self._pending_lookup = False
            self.status.show_note(f"Could not read the library: {exc}", error=True)

    def _show_models(self, number: int, found: tuple[str, dict[str, Card | None]]) -> None:
        if number != self._lookups:
            return  # the boxes changed since: a newer lookup is on its way
        self._pending_lookup = False
        base, cards = found
        self.base_label.setText(f"Base model: <b>{Path(base).name}</b>")
        rows = compare_report.diff_many(without_preference_perplexity(cards)) if len(cards) > 1 else []
        self.diff_table.clear()
        self.diff_table.setColumnCount(1 + len(cards))
        self.diff_table.setHorizontalHeaderLabels(["field", *cards])
        self.diff_table.setRowCount(len(rows))
        for row, (key, values) in enumerate(rows):
            for column, value in enumerate([key, *values]):
                self.diff_table.setItem(row, column, QTableWidgetItem(str(value)))
        self.diff_table.resizeColumnsToContents()
        trained = {paths.runs_dir() / c.run_id: adapter for adapter, c in cards.items()
                   if c is not None and c.run_id and (paths.runs_dir() / c.run_id).is_dir()}
        self.curves.show_runs(list(trained), trained)  # the legend by the names chosen above
        self.playground.set_models(self.models() or [BASE])

    def _pick_prompt(self, index: int) -> None:
        if index > 0:
            self.prompt.setPlainText(self.prompt_picker.itemText(index))

    # -- asking ------------------------------------------------------------------------------------

    def open_tools_dialog(self) -> ToolsDialog:
        """The tool definitions Ask and the Playground send (an adapter trained on tool use is
        asked with the tools it was trained with); applied on OK."""
        state = self.state
        dataset = None if not state.dataset_path else (lambda: tools_in(
            resolve_dataset_path(state.dataset_path), state.dataset_format,
            columns=state.dataset_reading.get("columns")))
        dialog = ToolsDialog(self.tools, dataset, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: self.set_tools(dialog.tools()))
        dialog.resize(QSize(560, 420).boundedTo(self.window().size() * 0.9))
        dialog.open()
        return dialog

    def set_tools(self, tools: Tools) -> None:
        self.tools = tuple(tools)
        self._show_tools()

    def _show_tools(self) -> None:
        self.tools_button.setText(f"Tools: {tools_summary(self.tools)}")
        self.tools_button.setToolTip("Tool definitions each prompt may call, written in as training writes a "
                                     "dataset's tools: ask a tool-use adapter with the tools it learnt")

    def sampling(self) -> dict[str, Any]:
        return {"temperature": self.temperature.value(), "max_new_tokens": self.max_tokens.value(),
                "seed": self.seed.value()}

    def ask(self, prompt: str | None = None) -> str | None:
        prompt = (prompt if prompt is not None else self.prompt.toPlainText()).strip()
        models = self.models()
        if not prompt or not models:
            self.status.show_note("Type a prompt and choose at least one model.", error=True)
            return None
        base = self.base_model()  # one library lookup for the whole question
        try:
            self.session.ensure(base)
        except (JobError, run_launcher.LaunchError, OSError) as exc:
            self.status.show_note(f"Could not start the compare worker: {exc}", error=True)
            return None
        order = list(models)
        if self.blind.isChecked():
            random.shuffle(order)
        for index, column in enumerate(self.columns):
            if index < len(order):
                title = f"Answer {chr(65 + index)}" if self.blind.isChecked() else order[index]
                column.start(order[index], title)
                column.show()
                column.vote.setVisible(self.blind.isChecked())
                column.vote.setEnabled(False)
            else:
                column.hide()
        if self.comparison is None or self.comparison.base != base:
            self.comparison = Comparison(base, models, self.sampling())
        self.comparison.models = list(dict.fromkeys([*self.comparison.models, *models]))
        self.comparison.sampling = self.sampling()
        self.pending = set(models)
        self.request = self.session.ask([{"role": "user", "content": prompt}], models, self.sampling(), self.tools)
        self.status.show_note("Loading the model…" if not self.session.is_ready else "Answering…")
        self.ask_button.setEnabled(False)
        self.tabs.setCurrentIndex(0)
        return self.request

    def busy(self) -> bool:
        return bool(self.pending)

    def _column(self, model: str) -> CompareColumn | None:
        return next((c for c in self.columns if c.model == model and not c.isHidden()), None)

    def _on_token(self, request: str, model: str, text: str) -> None:
        if request == self.request and (column := self._column(model)) is not None:
            column.add(text)

    def _on_answer(self, event: protocol.Answer) -> None:
        if event.request != self.request:
            self.playground.on_answer(event)
            return
        column = self._column(event.adapter)
        if column is not None:
            column.view.setPlainText(event.text)
        if self.comparison is not None:
            self.comparison.answers.append({"prompt": event.prompt, "model": event.adapter, "text": event.text,
                                            "tokens": event.tokens, "seconds": event.seconds})
        self.pending.discard(event.adapter)
        if not self.pending:
            self.ask_button.setEnabled(True)
            self.status.show_note("Done. Ask again: the models stay loaded." + (
                " Pick the better answer." if self.blind.isChecked() else ""), ok=True)
            for column in self.columns:
                column.vote.setEnabled(True)

    def vote(self, model: str) -> None:
        """Blind mode: this answer won this prompt; then reveal who wrote what."""
        self.tally[model] = self.tally.get(model, 0) + 1
        if self.comparison is not None:
            self.comparison.blind_votes = dict(self.tally)
        for column in self.columns:
            column.vote.setEnabled(False)
            if not column.isHidden():
                column.setTitle(f"{column.title()}: {column.model}")
        self.status.show_note("Tally: " + ", ".join(f"{m} {n}" for m, n in self.tally.items()), ok=True)

    def _on_refused(self, request: str, message: str) -> None:
        if request == self.request:
            self._on_session_end(message)
        else:  # the Playground's: it drops its turn, the reason is said here
            self.status.show_note(message, error=True)

    def _on_session_end(self, message: str) -> None:
        if self.pending:
            self.status.show_note(message, error=True)
        self.pending.clear()
        self.ask_button.setEnabled(True)

    # -- evaluating --------------------------------------------------------------------------------

    def evaluate(self) -> Path | None:
        if self.evaluating():
            return None  # one at a time: the button is disabled meanwhile
        try:
            job = job_from_dict({"kind": "eval", "model": {"path": self.base_model()}, "adapters": self.adapters(),
                                 "dataset": {"path": self.state.dataset_path, "format": self.state.dataset_format},
                                 "generate_rows": 8}, source="this comparison")
            run_dir = run_launcher.start_run(job, label="eval")
        except (JobError, run_launcher.LaunchError, OSError) as exc:
            self.status.show_note(f"Could not start the evaluation: {exc}", error=True)
            return None
        self.status.show_note(f"Evaluating on {Path(self.state.dataset_path).name} (run {run_dir.name}).")
        self.evaluate_button.setEnabled(False)
        self.eval_run, self.eval_progress = run_dir, EvalProgress()
        self.eval_bar.start(self.eval_progress.text())
        follower = RunFollower(run_dir, parent=self)
        follower.events.connect(self._on_eval_events)
        follower.finished.connect(self._on_evaluated)
        self.eval_follower = follower.start()
        return run_dir

    def evaluating(self) -> bool:
        return self.eval_follower is not None

    def cancel_evaluation(self) -> None:
        """Stop the eval worker at once: it has nothing worth saving half-way."""
        if self.eval_run is None:
            return
        run_dir = self.eval_run
        problem = run_launcher.send(run_dir, "cancel")
        if problem:  # a cancelled worker exits before it replies: wait for its end before calling it a failure
            QTimer.singleShot(CANCEL_GRACE_MS, lambda: self._cancel_failed(run_dir, problem))

    def _cancel_failed(self, run_dir: Path, problem: str) -> None:
        if self.eval_run == run_dir:  # still going
            self.status.show_note(f"Could not cancel the evaluation: {problem}", error=True)
            self.eval_bar.cancel.setEnabled(True)
            self.eval_bar.cancel.setText("Cancel")

    def _on_eval_events(self, events: list[protocol.Event]) -> None:
        self.eval_progress.add(events)
        self.eval_bar.show_progress(self.eval_progress.text(), self.eval_progress.fraction(),
                                    self.eval_progress.eta_s())

    def _on_evaluated(self, status: str, final: object) -> None:
        if self.eval_follower is not None:
            self.eval_follower.dispose()
            self.eval_follower = None
        self.eval_run = None
        self.eval_bar.finish()
        self.evaluate_button.setEnabled(True)
        if status == "cancelled":
            self.status.show_note("Evaluation cancelled.")
            return
        if not isinstance(final, protocol.Done):
            message = final.message if isinstance(final, protocol.Error) else status
            self.status.show_note(f"The evaluation failed: {message}", error=True)
            return
        results = (final.outputs or {}).get("results", [])
        self.show_metrics(results)
        if self.comparison is None:
            self.comparison = Comparison(self.base_model(), [r["adapter"] for r in results], self.sampling())
        self.comparison.metrics = results
        self.status.show_note("Evaluated: best in each column highlighted.", ok=True)
        self.tabs.setCurrentIndex(1)

    def show_metrics(self, results: list[dict[str, Any]]) -> None:
        self.metrics.setRowCount(len(results))
        winners = {key: compare_report.best(results, key) for _t, key in METRIC_COLUMNS}
        for row, result in enumerate(results):
            self.metrics.setItem(row, 0, QTableWidgetItem(result["adapter"]))
            for column, (_title, key) in enumerate(METRIC_COLUMNS, start=1):
                value = result.get(key)
                item = QTableWidgetItem("—" if value is None else f"{value:.4f}")
                if value is not None and value == winners[key]:
                    item.setBackground(BEST)
                    item.setToolTip("best in this column")
                self.metrics.setItem(row, column, item)
        self.metrics.resizeColumnsToContents()

    def save_report(self) -> Path | None:
        if self.comparison is None:
            self.status.show_note("Ask something or evaluate first: there is nothing to report yet.", error=True)
            return None
        cards = self.cards()
        self.comparison.diff = compare_report.diff_many(without_preference_perplexity(cards)) if len(cards) > 1 else []
        path = compare_report.save(self.comparison)
        self.status.show_note(f"Report saved: {path}", ok=True)
        return path

    def shutdown(self) -> None:
        """Stop the compare worker (the window is closing)."""
        self.session.stop()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._models_changed()


def dataset_prompts(path: str, fmt: str, eval_fraction: float = 0.1, seed: int = 42, limit: int = 20) -> list[str]:
    """The user turns of the dataset's eval split (what training did not see), for the picker."""
    from studio.core.datasets import load_dataset_file, split_train_eval
    from studio.core.resources import resolve_dataset_path

    examples = load_dataset_file(resolve_dataset_path(path), fmt, on_error="skip").examples
    held_out = split_train_eval(examples, eval_fraction, seed)[1] or examples
    prompts = []
    for example in held_out:
        users = [m.content for m in example.messages if m.role == "user"] or [example.prompt]
        if users and users[-1].strip():
            prompts.append(users[-1].strip())
    return prompts[:limit]
