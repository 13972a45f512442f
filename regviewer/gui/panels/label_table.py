"""The "Label Dice" dock: Dice and HD95 of every label before and after the current transform.

Before = the moving labels with the identity transform, after = with the transform the views show
(so selecting a run in the run history, which sets the transform, shows that run's figures). The
table sorts by any column; a click on a row moves the shared cursor inside that label (and shows
that label's TP / FP / FN when the agreement overlay is on).
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("Label", "Name", "Dice pre", "Dice post", "HD95 pre", "HD95 post", "Voxels")
TOOLTIPS = (
    "label value",
    "name from the colour table",
    "Dice with the identity transform",
    "Dice with the current transform",
    "HD95 (mm) with the identity transform",
    "HD95 (mm) with the current transform",
    "voxels of the label in the fixed label map",
)


class _NumberItem(QTableWidgetItem):
    """Sorts by a hidden number, shows formatted text (so inf / NaN read well and sort last)."""

    def __init__(self, value: float) -> None:
        finite = math.isfinite(value)
        super().__init__(f"{value:.3f}" if finite else ("inf" if value > 0 else "-"))
        self.number = value if finite else math.inf
        self.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return self.number < other.number
        return super().__lt__(other)


class LabelTablePanel(QWidget):
    """Sortable per-label Dice / HD95 table with the means (see the module docstring)."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._shown = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("labelTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        # columns are fitted once after each fill: ResizeToContents re-measures every row on every
        # setItem (a 300 ms stall of the window for 45 labels)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(36)
        self.table.setColumnWidth(1, 130)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        for column, tip in enumerate(TOOLTIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.cellClicked.connect(self._clicked)
        self.means = QLabel()
        self.means.setObjectName("labelMeans")
        self.means.setWordWrap(True)
        self.means.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.means)
        layout.addWidget(self.table, 1)
        controller.summaryChanged.connect(self.update_table)
        self.update_table()

    def update_table(self) -> None:
        controller = self.controller
        scene = controller.scene
        if scene.fixed_labels is None or scene.moving_labels is None:
            self.table.setRowCount(0)
            self._shown = None
            self.means.setText("Load fixed and moving labels to compare them (File menu).")
            return
        if controller.error:
            self.means.setText(f"Cannot compute: {controller.error}")
            return
        scores = controller.scores
        if controller.computing or scores is None:
            self.means.setText("computing Dice and HD95...")
            return
        stale = "" if controller.current else " (last final transform; updated when the run ends)"
        self.means.setText(
            f"Mean of {len(scores.rows)} labels, before (identity) -> after (current transform):\n"
            f"Dice {scores.dice_mean_before:.4f} -> {scores.dice_mean_after:.4f}   |   "
            f"HD95 {scores.hd95_mean_before_mm:.3f} -> {scores.hd95_mean_after_mm:.3f} mm{stale}"
        )
        if scores is self._shown:
            return
        self._shown = scores
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(scores.rows))
        for row, score in enumerate(scores.rows):
            label = QTableWidgetItem()
            label.setData(Qt.ItemDataRole.DisplayRole, score.value)
            label.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
            name = QTableWidgetItem(score.name)
            name.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
            voxels = QTableWidgetItem()
            voxels.setData(Qt.ItemDataRole.DisplayRole, score.fixed_voxels)
            voxels.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
            cells = (
                label,
                name,
                _NumberItem(score.dice_before),
                _NumberItem(score.dice_after),
                _NumberItem(score.hd95_before_mm),
                _NumberItem(score.hd95_after_mm),
                voxels,
            )
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        self.table.setSortingEnabled(sorting)
        for column in range(self.table.columnCount()):
            if column != 1:  # the name column keeps the width the user gave it
                self.table.resizeColumnToContents(column)

    def label_at(self, row: int) -> int | None:
        item = self.table.item(row, 0)
        return None if item is None else int(item.data(Qt.ItemDataRole.DisplayRole))

    def _clicked(self, row: int, _column: int) -> None:
        """Centre the cursor in the label; the agreement overlay, when shown, switches to that label."""
        value = self.label_at(row)
        if value is None:
            return
        self.controller.go_to_label(value)
        if self.controller.settings.options["agreement"].enabled:
            self.controller.set_params(agreement_label=value)
