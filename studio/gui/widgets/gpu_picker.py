"""Which GPUs a run trains on: one check box per GPU with its name, memory and use.

Ticking two or more starts one process per GPU through torchrun (the worker does
it); none or one keeps a single process. The list comes from NVML (core.gpus), so
the page needs no torch; a machine without NVIDIA GPUs shows a line saying so.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from studio.core import gpus as gpu_info
from studio.core.vram import format_bytes


class GpuPicker(QWidget):
    changed = Signal()

    def __init__(self, help_text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setToolTip(help_text)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self.boxes: dict[int, QCheckBox] = {}
        self._kept: list[int] = []  # GPUs a loaded job names that this machine lacks
        self.none_label = QLabel("No NVIDIA GPU found: training runs on the CPU.")
        self.none_label.setWordWrap(True)
        self._layout.addWidget(self.none_label)
        self.set_gpus(gpu_info.visible_gpus(), gpu_info.current_use())

    def set_gpus(self, cards: tuple[gpu_info.Gpu, ...], use: dict[int, gpu_info.GpuUse] | None = None) -> None:
        """Show these cards (kept ticks survive a refresh)."""
        ticked = set(self.value())
        self._kept = []
        for box in self.boxes.values():
            self._layout.removeWidget(box)
            box.deleteLater()
        self.boxes = {}
        for card in cards:
            now = (use or {}).get(card.index)
            memory = (f"{format_bytes(now.used_bytes)} / {format_bytes(card.total_bytes)} used" if now
                      else format_bytes(card.total_bytes))
            box = QCheckBox(f"GPU {card.index}: {card.name.removeprefix('NVIDIA ')}, {memory}")
            box.setObjectName(f"gpu{card.index}")
            box.setChecked(card.index in ticked)
            busy = f"{now.util_percent}% busy now. " if now else ""
            box.setToolTip(f"{card.name}: {busy}{self.toolTip()}")
            box.toggled.connect(self.changed)
            self._layout.addWidget(box)
            box.setVisible(True)  # a child added to a shown widget stays hidden until told
            self.boxes[card.index] = box
        self.none_label.setVisible(not cards)

    def value(self) -> list[int]:
        return sorted({index for index, box in self.boxes.items() if box.isChecked()} | set(self._kept))

    def set_value(self, indices: list[int]) -> None:
        for index, box in self.boxes.items():
            box.blockSignals(True)
            box.setChecked(index in (indices or []))
            box.blockSignals(False)
        self._kept = [i for i in (indices or []) if i not in self.boxes]  # a job for another machine
        self.changed.emit()
