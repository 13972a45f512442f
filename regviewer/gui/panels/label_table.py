"""The "Label overlap" dock: Dice and HD95 of every label before and after the current transform.

Before = the moving labels with the identity transform, after = with the transform the views show
(so selecting a run in the run history, which sets the transform, shows that run's figures). The
table sorts by any column; a click on a row moves the shared cursor inside that label.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

COLUMNS = ("Label", "Name", "Dice before", "Dice after", "HD95 before (mm)", "HD95 after (mm)", "Voxels")


class _NumberItem(QTableWidgetItem):
    """Sorts by a hidden number, shows formatted text (so inf / NaN read well and sort last)."""

    def __init__(self, value: float) -> None:
        finite = math.isfinite(value)
        super().__init__(f"{value:.4f}" if finite else ("inf" if value > 0 else "-"))
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
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("labelTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
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
            self.means.setText("Load fixed and moving labels to compare them (File menu).")
            return
        if controller.error:
            self.means.setText(f"Cannot compute: {controller.error}")
            return
        scores = controller.scores
        if controller.computing or scores is None:
            self.means.setText("computing Dice and HD95...")
            return
        self.means.setText(
            f"Mean Dice: {scores.dice_mean_before:.4f} before -> {scores.dice_mean_after:.4f} after   |   "
            f"mean HD95: {scores.hd95_mean_before_mm:.3f} -> {scores.hd95_mean_after_mm:.3f} mm   "
            f"({len(scores.rows)} labels)"
        )
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
            cells = (label, name, _NumberItem(score.dice_before), _NumberItem(score.dice_after),
                     _NumberItem(score.hd95_before_mm), _NumberItem(score.hd95_after_mm), voxels)
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        self.table.setSortingEnabled(sorting)

    def label_at(self, row: int) -> int | None:
        item = self.table.item(row, 0)
        return None if item is None else int(item.data(Qt.ItemDataRole.DisplayRole))

    def _clicked(self, row: int, _column: int) -> None:
        value = self.label_at(row)
        if value is not None:
            self.controller.go_to_label(value)
