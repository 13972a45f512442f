"""The History tab: the runs of the window's ``RunHistory`` (regviewer.app) with how they scored.

The panel shows the ``RunHistory`` it is given and follows its events: a new run, a result,
figures (quick ones first, then HD95). A run with warnings (folding, a metric worse than before, a
stage that diverged) is marked in the list and its warnings open its details. Selecting two runs
shows both side by side. The panel offers Compare (two runs in the views), Use as start (chaining)
and Copy as command; what these do is decided by the dock (signals), not here.
"""

from __future__ import annotations

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

from regviewer.app.run_history import FIGURES, RunHistory, RunRecord  # noqa: F401  (RunRecord: the records shown)
from regviewer.gui.model_link import subscribe

STATUS_COLOURS = {"completed": "#2e7d32", "cancelled": "#c77700", "failed": "#c62828", "running": "#1565c0"}
WARNING_COLOUR = "#b26a00"  # a finished run with warnings: not shown like a plain success


class HistoryPanel(QWidget):
    """The list of runs, the selected run's details and the run actions (see the module docstring)."""

    showRequested = Signal(object)  # RunRecord
    compareRequested = Signal(object, object)
    startRequested = Signal(object)
    commandRequested = Signal(object)

    def __init__(self, history: RunHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = history
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
        subscribe(self, history.added, self._added)
        subscribe(self, history.updated, self.refresh)
        subscribe(self, history.cleared, self._cleared)
        for record in history:
            self._added(record)

    @property
    def records(self) -> list[RunRecord]:
        return self.model.records

    def _cleared(self) -> None:
        self.list.clear()
        self.details.clear()

    def _added(self, record: RunRecord) -> None:
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, record.run_id)
        self.list.addItem(item)
        self.refresh(record)

    def record(self, run_id: int) -> RunRecord | None:
        return self.model.get(run_id)

    def refresh(self, record: RunRecord) -> None:
        """Redraw a record's entry (and the details when it is the selected run)."""
        if record not in self.records or self.records.index(record) >= self.list.count():
            return
        item = self.list.item(self.records.index(record))
        item.setText(record.summary())
        colour = WARNING_COLOUR if record.status == "completed" and record.warnings else STATUS_COLOURS[record.status]
        item.setForeground(QColor(colour))
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
        wrap = QPlainTextEdit.LineWrapMode
        self.details.setLineWrapMode(wrap.NoWrap if len(selected) == 2 else wrap.WidgetWidth)  # columns stay aligned
        if len(selected) == 1:
            self.details.setPlainText(selected[0].details())
            if selected[0].result is not None:
                self.showRequested.emit(selected[0])
        elif len(selected) == 2:
            self.details.setPlainText(side_by_side(selected[0], selected[1]))

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


def side_by_side(first: RunRecord, second: RunRecord) -> str:
    """Two runs in columns: status, warnings, figures (before / after) and parameters."""

    def short(value) -> str:  # noqa: ANN001
        return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

    width = 20
    name_a, name_b = f"#{first.run_id} {first.title}"[: width - 1], f"#{second.run_id} {second.title}"[: width - 1]
    lines = [f"{'':<13}{name_a:>{width}}{name_b:>{width}}"]
    status = lambda r: f"{r.status} {r.result.runtime_s:.1f} s" if r.result is not None else r.status  # noqa: E731
    lines.append(f"{'Status':<13}{status(first):>{width}}{status(second):>{width}}")
    lines.append(f"{'Warnings':<13}{len(first.warnings):>{width}}{len(second.warnings):>{width}}")
    lines.append(f"{'Start':<13}{first.start_label[: width - 1]:>{width}}{second.start_label[: width - 1]:>{width}}")
    for key, label, _digits in FIGURES:
        values = []
        for record in (first, second):
            figures = record.figures if record.figures is not None and "error" not in record.figures else None
            if figures is None:
                values.append("")
                continue
            before, after = figures["before"].get(key), figures["after"].get(key)
            values.append("" if before is None and after is None else f"{short(before)} -> {short(after)}")
        if any(values):
            lines.append(f"{label[:12]:<13}{values[0]:>{width}}{values[1]:>{width}}")
    lines.append("")
    for record in (first, second):
        lines.append(f"Run #{record.run_id} {record.title}:")
        for warning in record.warnings:
            lines.append(f"  WARNING: {warning}")
        for index, stage in enumerate(record.stages, 1):
            values = ", ".join(f"{name}={_value(value)}" for name, value in stage.parameters.items())
            lines.append(f"  {index}. {stage.method}: {values or 'defaults'}")
    return "\n".join(lines)


def _value(value) -> str:  # noqa: ANN001
    if isinstance(value, (tuple, list)):
        return ",".join(str(item) for item in value)
    return str(value)
