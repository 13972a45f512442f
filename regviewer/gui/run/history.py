"""The run history: every registration run of the session with what it used and how it scored.

A ``RunRecord`` keeps the stages, the start (initial transform), the inputs it named (files, mask,
landmarks) and, once known, the ``Result`` and the before / after figures (the CLI's metrics.json
numbers). Failed runs stay in the list with their message. The panel lists the runs, shows the
details of the selected one, and offers Compare (two runs side by side), Use as start (chaining) and
Copy as command; what these do is decided by the dock (signals), not here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from regviewer.core.transforms import Transform
from regviewer.registration.base import Result
from regviewer.registration.pipeline import Stage

# (key in the figures, label, digits); the same names as metrics.json and the CLI summary.
FIGURES = (
    ("ncc", "NCC", 4),
    ("mi", "MI", 4),
    ("mse", "MSE", 4),
    ("dice_mean", "Dice (mean)", 4),
    ("hd95_mean_mm", "HD95 (mm)", 3),
    ("tre_mean_mm", "TRE mean (mm)", 3),
    ("tre_max_mm", "TRE max (mm)", 3),
    ("jacobian_min", "Jacobian min", 3),
    ("folded_pct", "Folded (%)", 3),
)
STATUS_COLOURS = {"completed": "#2e7d32", "cancelled": "#c77700", "failed": "#c62828", "running": "#1565c0"}


@dataclass
class RunRecord:
    """One run of the session (mutable: the result and figures arrive later)."""

    run_id: int
    title: str
    preset: str | None
    stages: tuple[Stage, ...]
    start_label: str
    initial_transform: Transform | None
    mask_label: str
    sources: dict[str, str | None]
    mask_roles: tuple[str, ...] = ()  # "fixed" / "moving": label maps used as masks (non-zero voxels)
    use_labels: bool = False  # label maps passed to the engine and scored
    fixed_landmarks: np.ndarray | None = None
    moving_landmarks: np.ndarray | None = None
    images: tuple = ()  # the (fixed, moving) Images registered: its transform belongs to them
    result: Result | None = None
    figures: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)
    command: str = ""

    @property
    def status(self) -> str:
        return self.result.status if self.result is not None else "running"

    def summary(self) -> str:
        """Two lines for the list: what ran and how it went."""
        duration = f"  {self.result.runtime_s:.1f} s" if self.result is not None else ""
        first = f"#{self.run_id}  {self.title}  -  {self.status}{duration}"
        if self.figures is None:
            second = (
                "figures: computing..."
                if self.status in ("completed", "cancelled")
                else (self.result.message if self.result else "")
            )
        elif "error" in self.figures:
            second = f"figures failed: {self.figures['error']}"
        else:
            parts = []
            for key, label, digits in (
                ("ncc", "NCC", 3),
                ("dice_mean", "Dice", 3),
                ("tre_mean_mm", "TRE", 2),
                ("folded_pct", "fold %", 2),
            ):
                before, after = self.figures["before"].get(key), self.figures["after"].get(key)
                if after is not None:
                    parts.append(
                        f"{label} {_number(before, digits)} -> {_number(after, digits)}"
                        if before is not None
                        else f"{label} {_number(after, digits)}"
                    )
            second = "   ".join(parts)
        return f"{first}\n{second[:140]}"

    def details(self) -> str:
        """Everything about the run, as plain text (for the details box and bug reports)."""
        lines = [f"Run #{self.run_id}: {self.title}  ({time.strftime('%H:%M:%S', time.localtime(self.started))})"]
        if self.result is not None:
            lines.append(f"Status: {self.result.status} after {self.result.runtime_s:.2f} s")
            if self.result.message:
                lines.append(f"Message: {self.result.message}")
        else:
            lines.append("Status: running")
        lines.append(f"Start: {self.start_label};  mask: {self.mask_label}")
        if self.fixed_landmarks is not None:
            lines.append(f"Landmarks: {len(self.fixed_landmarks)} pairs")
        lines.append("Stages:")
        for index, stage in enumerate(self.stages, 1):
            values = ", ".join(f"{name}={_value(value)}" for name, value in stage.parameters.items())
            lines.append(f"  {index}. {stage.method}: {values or 'defaults'}")
        if self.figures is not None and "error" not in self.figures:
            lines.append(f"{'Figure':<16}{'before':>10}{'after':>10}")
            for key, label, digits in FIGURES:
                before, after = self.figures["before"].get(key), self.figures["after"].get(key)
                if before is not None or after is not None:
                    lines.append(f"{label:<16}{_number(before, digits):>10}{_number(after, digits):>10}")
        elif self.figures is not None:
            lines.append(f"Figures failed: {self.figures['error']}")
        if self.result is not None:
            lines.append(f"Transform: {self.result.transform.describe()[:300]}")
        if self.command:
            lines.append(f"Command:\n{self.command}")
        return "\n".join(lines)


def _number(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _value(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(item) for item in value)
    return str(value)


class HistoryPanel(QWidget):
    """The list of runs, the selected run's details and the run actions (see the module docstring)."""

    showRequested = Signal(object)  # RunRecord
    compareRequested = Signal(object, object)
    startRequested = Signal(object)
    commandRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[RunRecord] = []
        self.list = QListWidget()
        self.list.setObjectName("historyList")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setWordWrap(False)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("compareButton")
        self.compare_button.setToolTip(
            "Select two runs (Ctrl+click): the Warped view shows the first, the fourth view the second"
        )
        self.start_button = QPushButton("Use as start")
        self.start_button.setObjectName("useAsStartButton")
        self.start_button.setToolTip("Start the next run from this run's transform (chaining)")
        self.copy_button = QPushButton("Copy as command")
        self.copy_button.setObjectName("copyCommandButton")
        self.copy_button.setToolTip("Copy the 'regviewer register ...' line that reproduces this run")
        self.compare_button.clicked.connect(self._compare)
        self.start_button.clicked.connect(lambda: self._emit_selected(self.startRequested))
        self.copy_button.clicked.connect(lambda: self._emit_selected(self.commandRequested))
        buttons = QHBoxLayout()
        for button in (self.compare_button, self.start_button, self.copy_button):
            buttons.addWidget(button)
        self.details = QPlainTextEdit()
        self.details.setObjectName("runDetails")
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setPlaceholderText("Select a run to see its parameters, figures and command.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.details, 2)
        self._update_buttons()

    def add(self, record: RunRecord) -> None:
        self.records.append(record)
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, record.run_id)
        self.list.addItem(item)
        self.refresh(record)

    def record(self, run_id: int) -> RunRecord | None:
        return next((record for record in self.records if record.run_id == run_id), None)

    def refresh(self, record: RunRecord) -> None:
        """Redraw a record's entry (and the details when it is the selected run)."""
        index = self.records.index(record)
        item = self.list.item(index)
        item.setText(record.summary())
        item.setForeground(QColor(STATUS_COLOURS[record.status]))
        item.setToolTip(record.details())
        selected = self.selected()
        if len(selected) == 1 and selected[0] is record:
            self.details.setPlainText(record.details())
        self._update_buttons()

    def selected(self) -> list[RunRecord]:
        rows = sorted(self.list.row(item) for item in self.list.selectedItems())
        return [self.records[row] for row in rows]

    def select(self, record: RunRecord) -> None:
        """Select only ``record`` (shows it, like a click)."""
        self.list.clearSelection()
        self.list.setCurrentRow(self.records.index(record))

    def _selection_changed(self) -> None:
        selected = self.selected()
        self._update_buttons()
        if len(selected) == 1:
            self.details.setPlainText(selected[0].details())
            if selected[0].result is not None:
                self.showRequested.emit(selected[0])
        elif len(selected) == 2:
            self.details.setPlainText("\n\n".join(record.details() for record in selected))

    def _update_buttons(self) -> None:
        selected = self.selected()
        finished = [record for record in selected if record.result is not None]
        self.compare_button.setEnabled(len(finished) == 2 and len(selected) == 2)
        self.start_button.setEnabled(len(selected) == 1 and len(finished) == 1)
        self.copy_button.setEnabled(len(selected) == 1)

    def _emit_selected(self, signal) -> None:
        selected = self.selected()
        if len(selected) == 1:
            signal.emit(selected[0])

    def _compare(self) -> None:
        selected = self.selected()
        if len(selected) == 2:
            self.compareRequested.emit(selected[0], selected[1])
