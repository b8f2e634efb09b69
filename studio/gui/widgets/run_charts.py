"""The grid of a run's charts: loss, learning rate, grad norm, throughput and the machine.

Events only append to :class:`RunData`; a timer redraws at most every 100 ms, however
many events came. Painting a chart is the expensive part (Qt's raster engine), so one
tick repaints the loss chart and the next stale one of the others in turn: the window
never waits for all nine at once. Charts of a hidden page are not redrawn until shown.
With GPUs the bottom row shows utilisation, memory (with the card's total), temperature
and power; without (a CPU run) it shows the worker's CPU use (its own and its ranks', as a
share of all cores; the machine's for runs recorded before workers sent theirs) and memory.
A preference run (DPO, ORPO, SimPO, KTO) also charts what it learns: the reward margin of the
chosen reply over the rejected one, the share of pairs it ranks right, and both rewards; the
loss chart gives them room by taking one row instead of two. A GRPO run charts its mean reward (the
total and one line per reward function), the rewards' spread within a group, the answers' mean
length and, when the job sends it (beta > 0), the KL to the base model.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QGridLayout, QWidget

from studio.core import protocol
from studio.core.stage_names import is_preference, stage_tag
from studio.gui.widgets.grpo_series import FUNCTION_PREFIX
from studio.gui.widgets.metric_chart import MetricChart, colours
from studio.gui.widgets.run_data import RunData

REDRAW_MS = 100
# Three rows of charts share ~340 px at the smallest window (960 x 640, a finished run's banner shown):
# below their minimum height the rows overlapped, titles hidden under the row above.
CHART_MIN_HEIGHT = 100
GPU_METRICS = (("util", "GPU utilisation (%)", "{:.0f} %", 100.0), ("mem_gib", "GPU memory (GiB)", "{:.1f} GiB", 0.0),
               ("temp", "GPU temperature (°C)", "{:.0f} °C", 90.0), ("power", "GPU power (W)", "{:.0f} W", 0.0))
MAX_GPUS = 8
# Short titles: at 960 x 640 a small chart is ~190 px wide, title and latest value together.
MARGIN_TITLE, ACCURACY_TITLE, REWARDS_TITLE = "Reward margin", "Ranked right", "Rewards"
MARGIN_TIP = ("How much more the adapter favours the chosen reply than the rejected one (TRL's rewards/margins; "
              "thin: each step, thick: smoothed, dots: the held-out pairs): it should climb from 0")
ACCURACY_TIP = ("The share of pairs whose chosen reply gets the higher reward, in % (TRL's rewards/accuracies; "
                "thin: each step, thick: smoothed, dots: the held-out pairs): 50 % is a coin toss; KTO reports none")
REWARDS_TIP = ("The chosen replies' reward (green) and the rejected ones' (red), as TRL's rewards/chosen and "
               "rewards/rejected (dots: the held-out pairs): they should part, chosen up, rejected down")
REWARD_TITLE, SPREAD_TITLE, LENGTH_TITLE, KL_TITLE = "Reward", "Reward spread", "Answer length", "KL"
GRPO_TIPS = {
    "reward": "The mean reward of the sampled answers: thick, the total (TRL's reward); thin, each reward "
              "function's mean (rewards/<name>/mean); dots, the held-out prompts. It should climb",
    "reward_std": "How much the rewards of one prompt's answers differ (TRL's reward_std): at 0 every answer "
                  "scores the same and there is nothing to learn from",
    "mean_length": "The sampled answers' mean length in tokens (TRL's completions/mean_length)",
    "kl": "How far the adapter's answers drift from the base model's (TRL's kl; sent when beta > 0)"}
LOSS_TIP = ("The stage's loss: thin, each step; thick, smoothed; dots, the held-out pairs; triangles, checkpoints "
            "(click one to compare or chat with it)")
CPU_TITLES = {"worker": "Worker CPU (% of all cores)", "machine": "Machine CPU (%)"}
CPU_TIPS = {"worker": "CPU time this run's worker (and its rank processes) used, as a share of all the "
                      "machine's cores: 100 % is every core busy with this run",
            "machine": "The whole machine's CPU use, other programs included (this run was recorded before "
                       "workers reported their own)"}


class RunCharts(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.data = RunData()
        c = colours()
        # Wide antialiased pens are slow to paint on noisy data: dense curves are 1 px.
        self.loss = MetricChart("Loss", legend=True)
        self.loss.add_curve("loss", c[0], "train", width=1.0, alpha=110)
        self.loss.add_curve("loss_ema", c[0], "train (smoothed)", width=2.2)
        self.loss.add_curve("eval_loss", c[1], "eval", width=0, symbol="o", symbol_size=8)
        self.loss.add_curve("checkpoint", c[2], "checkpoint", width=0, symbol="t1", symbol_size=10)
        self.lr = MetricChart("Learning rate")
        self.lr.add_curve("lr", c[4])
        self.lr.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self.grad_norm = MetricChart("Grad norm")
        self.grad_norm.add_curve("grad_norm", c[3])
        self.tokens = MetricChart("Tokens / s")
        self.tokens.add_curve("tokens_per_s", c[5])
        self.margin = MetricChart(MARGIN_TITLE)
        self.margin.setToolTip(MARGIN_TIP)
        self.accuracy = MetricChart(ACCURACY_TITLE)
        self.accuracy.setToolTip(ACCURACY_TIP)
        for chart, name in ((self.margin, "margin"), (self.accuracy, "accuracy")):
            chart.add_curve(name, c[0], "train", width=1.0, alpha=110)
            chart.add_curve(f"{name}_ema", c[0], "train (smoothed)", width=2.2)
            chart.add_curve(f"eval_{name}", c[1], "eval", width=0, symbol="o", symbol_size=8)
        self.accuracy.zero_based(100.0)
        # No legend (it would cover a chart this small): the latest values in the title, in the curves' colours.
        self.rewards = MetricChart(REWARDS_TITLE)
        self.rewards.setToolTip(REWARDS_TIP)
        self._reward_colours = (c[2], c[3])
        self.rewards.add_curve("chosen", c[2])
        self.rewards.add_curve("rejected", c[3])
        self.rewards.add_curve("eval_chosen", c[2], None, width=0, symbol="o", symbol_size=7)
        self.rewards.add_curve("eval_rejected", c[3], None, width=0, symbol="o", symbol_size=7)
        self.preference_charts = (self.margin, self.accuracy, self.rewards)
        self._colours = c
        self.reward = MetricChart(REWARD_TITLE, legend=True)
        self.reward.legend_in_a_row = True
        self.reward.add_curve("reward", c[0], "total", width=2.2)
        self.reward.add_curve("eval_reward", c[0], None, width=0, symbol="o", symbol_size=8)
        self.reward_std = MetricChart(SPREAD_TITLE)
        self.length = MetricChart(LENGTH_TITLE)
        self.kl = MetricChart(KL_TITLE)
        for chart, name, colour in ((self.reward_std, "reward_std", c[1]), (self.length, "mean_length", c[4]),
                                    (self.kl, "kl", c[3])):
            chart.add_curve(name, colour)
            chart.add_curve(f"eval_{name}", colour, None, width=0, symbol="o", symbol_size=7)
        for chart, name in ((self.reward, "reward"), (self.reward_std, "reward_std"), (self.length, "mean_length"),
                            (self.kl, "kl")):
            chart.setToolTip(GRPO_TIPS[name])
        self.length.zero_based()
        self.grpo_charts = (self.reward, self.reward_std, self.length, self.kl)
        self.cpu = MetricChart(CPU_TITLES["worker"], x_label="minutes")
        self.cpu.setToolTip(CPU_TIPS["worker"])
        self.cpu.add_curve("cpu_percent", c[0])
        self.rss = MetricChart("Worker memory, RSS (GiB)", x_label="minutes")
        self.rss.add_curve("rss_gib", c[1])
        self.gpu: dict[str, MetricChart] = {}
        for metric, title, _unit, _top in GPU_METRICS:
            chart = MetricChart(title, x_label="minutes", legend=True)
            for index in range(MAX_GPUS):
                chart.add_curve(f"gpu{index}.{metric}", c[index % len(c)], None)
            self.gpu[metric] = chart
        self.gpu["mem_gib"].add_hline("total", c[3], "the card's total memory")
        for chart in (self.loss, self.lr, self.grad_norm, self.tokens, *self.preference_charts, *self.grpo_charts,
                      self.cpu, self.rss, *self.gpu.values()):
            chart.setMinimumHeight(CHART_MIN_HEIGHT)
        self.cpu.zero_based(100.0)
        self.rss.zero_based(0.0)
        for metric, _title, _unit, top in GPU_METRICS:
            self.gpu[metric].zero_based(top)
        self.training_charts = {"loss": self.loss, "lr": self.lr, "grad_norm": self.grad_norm,
                                "tokens_per_s": self.tokens, "margin": self.margin, "accuracy": self.accuracy,
                                "rewards": self.rewards, "reward": self.reward, "reward_std": self.reward_std,
                                "mean_length": self.length, "kl": self.kl}
        self._others = [*self.preference_charts, *self.grpo_charts, self.lr, self.grad_norm, self.tokens, self.cpu, self.rss,
                        *self.gpu.values()]
        self._turn = 0
        self.fitted = False

        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(6)
        self.stage = "sft"  # the run's job's; a step with preference numbers says so too (a run's events alone)
        self._mode: tuple[str, bool] | None = None  # ("plain" / "preference" / "grpo", KL shown)
        self._show_training("plain")
        for column in range(4):
            self.grid.setColumnStretch(column, 1)
        for row in range(3):
            self.grid.setRowStretch(row, 1)
        self._gpu_mode: bool | None = None
        self._show_system(gpu=False)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._tick)
        self.redraws = 0

    def set_stage(self, stage: str) -> None:
        """The run's training stage (its job's): a preference stage lays its charts out before the first step."""
        self.stage = stage
        self._layout_system()

    def preference_mode(self) -> bool:
        return self._mode is not None and self._mode[0] == "preference"

    def grpo_mode(self) -> bool:
        return self._mode is not None and self._mode[0] == "grpo"

    def add_events(self, events: Iterable[protocol.Event]) -> None:
        """Take new events; the charts catch up on the next redraw ticks."""
        self.data.add(events)
        self.schedule()

    def set_data(self, data: RunData) -> None:
        """Show a whole run's data at once (built off the GUI thread by a replay)."""
        self.data = data
        self.schedule()

    def schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def finish(self) -> None:
        """The run is over: fit every x axis to its data from now on."""
        self.fitted = True
        for chart in self._all_charts():
            chart.fit_x()

    def clear(self) -> None:
        self._timer.stop()
        self.fitted = False
        self.data = RunData()
        self.stage = "sft"
        for chart in self._all_charts():
            chart.clear_data()
        for name in [name for name in self.reward.curves if name.startswith(FUNCTION_PREFIX)]:
            self.reward.getPlotItem().removeItem(self.reward.curves.pop(name))  # the last run's reward functions
        self._show_training("plain")
        self._show_system(gpu=False)
        self._set_titles()

    def redraw(self) -> None:
        """Bring every chart up to date now."""
        self._layout_system()
        for chart in self._all_charts():
            self._draw(chart)
        self._set_titles()
        self.redraws += 1

    def _tick(self) -> None:
        if not self.isVisible():
            return  # showEvent schedules the catch-up
        self._layout_system()
        self._draw(self.loss)
        for _ in range(len(self._others)):
            chart = self._others[self._turn % len(self._others)]
            self._turn += 1
            if chart.isVisible() and self._draw(chart):
                break
        self._set_titles()
        self.redraws += 1
        if any(self._stale(chart) for chart in (self.loss, *self._others) if chart.isVisible()):
            self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.schedule()

    def _names(self, chart: MetricChart) -> list[str]:
        return [name for name in chart.curves if name in self.data.series]

    def _stale(self, chart: MetricChart) -> bool:
        return any(not chart.is_current(name, self.data.series[name].version) for name in self._names(chart))

    def _draw(self, chart: MetricChart) -> bool:
        """Hand ``chart`` the points that changed; True if it has to repaint."""
        changed = False
        for name in self._names(chart):
            series = self.data.series[name]
            if chart.set_data(name, *series.view(), version=series.version):
                changed = True
                if chart.legend is not None and name.startswith("gpu") and len(self.data.gpu_names) > 1 \
                        and chart.legend.getLabel(chart.curves[name]) is None:
                    chart.legend.addItem(chart.curves[name], f"GPU {name[3:].split('.')[0]}")
        if changed and self.fitted:
            chart.fit_x()
        if chart is self.gpu["mem_gib"] and self.data.gpu_total_gib:
            total = max(self.data.gpu_total_gib.values())
            chart.set_line("total", total)
        return changed

    def _set_titles(self) -> None:
        s = self.data.series
        preference = self.preference_mode()
        loss_title = f"{stage_tag(self.stage)} loss" if preference and is_preference(self.stage) else \
            "Loss"  # a GRPO run's loss chart is one column wide: "GRPO loss" left no room for its value
        self.loss.set_title(loss_title, _fmt(s["loss_ema"].last_y(), "{:.4f}", "smoothed "))
        if preference:
            self.margin.set_title(MARGIN_TITLE, _fmt(s["margin_ema"].last_y(), "{:.3f}"))
            accuracy = _fmt(s["accuracy_ema"].last_y(), "{:.0f} %")
            self.accuracy.set_title(ACCURACY_TITLE, accuracy or ("none" if self.data.preference_seen else ""))
            chosen, rejected = s["chosen"].last_y(), s["rejected"].last_y()
            self.rewards.set_title(REWARDS_TITLE, "" if chosen is None or rejected is None else
                                   f"<span style='color:{self._reward_colours[0]}'>{chosen:.2f}</span> / "
                                   f"<span style='color:{self._reward_colours[1]}'>{rejected:.2f}</span>")
        if self.grpo_mode():
            self.reward.set_title(REWARD_TITLE, _fmt(s["reward"].last_y() if "reward" in s else None, "{:.3f}"))
            for chart, name, spec in ((self.reward_std, "reward_std", "{:.3f}"),
                                      (self.length, "mean_length", "{:.0f} tokens"), (self.kl, "kl", "{:.4f}")):
                chart.set_title(chart.title_label.text(), _fmt(s[name].last_y() if name in s else None, spec))
        self.lr.set_title("Learning rate", _fmt(s["lr"].last_y(), "{:.2e}"))
        self.grad_norm.set_title("Grad norm", _fmt(s["grad_norm"].last_y(), "{:.3f}"))
        self.tokens.set_title("Tokens / s", _fmt(s["tokens_per_s"].last_y(), "{:,.0f}"))
        source = self.data.cpu_source or "worker"
        self.cpu.set_title(CPU_TITLES[source], _fmt(s["cpu_percent"].last_y(), "{:.0f} %"))
        if self.cpu.toolTip() != CPU_TIPS[source]:
            self.cpu.setToolTip(CPU_TIPS[source])
        self.rss.set_title("Worker memory, RSS (GiB)", _fmt(s["rss_gib"].last_y(), "{:.2f} GiB"))
        for metric, title, unit, _top in GPU_METRICS:
            series = s.get(f"gpu0.{metric}")
            value = _fmt(series.last_y() if series else None, unit)
            if metric == "mem_gib" and value and 0 in self.data.gpu_total_gib:
                value = value.replace(" GiB", f" / {self.data.gpu_total_gib[0]:.0f} GiB")
            self.gpu[metric].set_title(title, value)

    def _layout_system(self) -> None:
        preference = is_preference(self.stage) or self.data.preference_seen
        grpo = not preference and (self.stage == "grpo" or self.data.grpo_seen)
        mode = "preference" if preference else "grpo" if grpo else "plain"
        if grpo:
            self._add_reward_curves()
        if self._mode != (mode, grpo and self._has("kl")):
            self._show_training(mode)
        if self.data.has_gpu != self._gpu_mode:
            self._show_system(gpu=self.data.has_gpu)

    def _has(self, name: str) -> bool:
        return any(len(self.data.series.get(prefix + name, ())) for prefix in ("", "eval_"))

    def _add_reward_curves(self) -> None:
        """A line for each reward function the run has reported so far (they are named by the job)."""
        for label in self.data.reward_labels:
            name = FUNCTION_PREFIX + label
            if name not in self.reward.curves:
                colour = self._colours[(len(self.reward.curves) - 1) % len(self._colours)]
                self.reward.add_curve(name, colour, label, width=1.0)
                self.reward.fit_legend()
                self.reward.setToolTip(GRPO_TIPS["reward"] + "<br>" + " · ".join(
                    f"<span style='color:{item.opts['pen'].color().name()}'>━</span> {item.name()}"
                    for item in self.reward.curves.values() if item.name()))

    def _show_training(self, mode: str) -> None:
        """The top two rows: loss over both with learning rate, grad norm and throughput beside it; or,
        for a preference run, loss, margin and accuracy on top and the rewards beside the rest below; or,
        for a GRPO run, loss, reward (two wide) and its spread on top, answer length and KL (throughput
        where no KL is sent) beside learning rate and grad norm below."""
        kl = mode == "grpo" and self._has("kl")
        self._mode = (mode, kl)
        preference = mode == "preference"
        for chart in (self.loss, self.lr, self.grad_norm, self.tokens, *self.preference_charts, *self.grpo_charts):
            self.grid.removeWidget(chart)
        if mode == "grpo":
            places = ((self.loss, 0, 0, 1, 1), (self.reward, 0, 1, 1, 2), (self.reward_std, 0, 3, 1, 1),
                      (self.length, 1, 0, 1, 1), (self.kl if kl else self.tokens, 1, 1, 1, 1),
                      (self.lr, 1, 2, 1, 1), (self.grad_norm, 1, 3, 1, 1))
        elif preference:
            places = ((self.loss, 0, 0, 1, 2), (self.margin, 0, 2, 1, 1), (self.accuracy, 0, 3, 1, 1),
                      (self.rewards, 1, 0, 1, 1), (self.lr, 1, 1, 1, 1), (self.grad_norm, 1, 2, 1, 1),
                      (self.tokens, 1, 3, 1, 1))
        else:
            places = ((self.loss, 0, 0, 2, 2), (self.lr, 0, 2, 1, 1), (self.grad_norm, 0, 3, 1, 1),
                      (self.tokens, 1, 2, 1, 2))
        for chart, row, column, rows, columns in places:
            self.grid.addWidget(chart, row, column, rows, columns)
        for chart in self.preference_charts:
            chart.setVisible(preference)
        for chart in self.grpo_charts:
            chart.setVisible(mode == "grpo" and (chart is not self.kl or kl))
        self.tokens.setVisible(not kl)
        self.loss.want_legend(mode == "plain")  # one row high: the legend would cover it (the tooltip says)
        self.loss.setToolTip("" if mode == "plain" else LOSS_TIP)

    def _show_system(self, gpu: bool) -> None:
        """The bottom row: four GPU charts, or CPU and memory at twice the width."""
        self._gpu_mode = gpu
        for chart in (self.cpu, self.rss, *self.gpu.values()):
            self.grid.removeWidget(chart)
            chart.setVisible(False)
        if gpu:
            for column, chart in enumerate(self.gpu.values()):
                self.grid.addWidget(chart, 2, column)
                chart.setVisible(True)
        else:
            self.grid.addWidget(self.cpu, 2, 0, 1, 2)
            self.grid.addWidget(self.rss, 2, 2, 1, 2)
            self.cpu.setVisible(True)
            self.rss.setVisible(True)

    def _all_charts(self) -> list[MetricChart]:
        return [*self.training_charts.values(), self.cpu, self.rss, *self.gpu.values()]


def _fmt(value: float | None, spec: str, prefix: str = "") -> str:
    return "" if value is None else prefix + spec.format(value)
