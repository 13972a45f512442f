"""The "Label Dice" dock: Dice and HD95 of every label before and after the current transform.

Before = the moving labels with the identity transform, after = with the transform the views show
(so selecting a run in the run history, which sets the transform, shows that run's figures). The
table sorts by any column; a click on a row moves the shared cursor inside that label (and shows
that label's TP / FP / FN when the agreement overlay is on). Ctrl+C, the context menu and the Copy /
Save CSV buttons copy the rows (tab-separated) or save them as CSV (see ``table_export``).
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from regviewer.core.label_stats import label_boxes
from regviewer.gui.jobs import BackgroundJob
from regviewer.gui.panels.table_export import copy_table, install_copy_and_save, save_dialog

COLUMNS = ("Label", "Name", "Dice\npre", "Dice\npost", "HD95\npre", "HD95\npost", "Voxels")  # two lines: narrow
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
        self.setData(Qt.ItemDataRole.UserRole, float(value))  # full precision for Copy / CSV
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
        self._warmer = BackgroundJob(self, name="regviewer-label-boxes")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("labelTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # several rows to copy
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        # columns are fitted once after each fill: ResizeToContents re-measures every row on every
        # setItem (a 300 ms stall of the window for 45 labels)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(36)
        # the name takes what the numbers leave, so that the HD95 columns are never cut off
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
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
        install_copy_and_save(self.table, self, "label_dice.csv")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("labelTableCopyButton")
        self.copy_button.setToolTip("Copy the selected rows (all rows when none is selected), tab-separated (Ctrl+C)")
        self.copy_button.clicked.connect(lambda _checked=False: copy_table(self.table))
        self.save_button = QPushButton("Save CSV...")
        self.save_button.setObjectName("labelTableSaveButton")
        self.save_button.setToolTip("Save every row as a CSV file")
        self.save_button.clicked.connect(lambda _checked=False: save_dialog(self.table, self, "label_dice.csv"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        layout.addWidget(self.means)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        controller.summaryChanged.connect(self.update_table)
        self.update_table()
        self._enable_buttons()

    def update_table(self) -> None:
        controller = self.controller
        scene = controller.scene
        if scene.fixed_labels is None or scene.moving_labels is None:
            self.table.setRowCount(0)
            self._shown = None
            self._enable_buttons()
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
        self._warm_label_boxes()
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
        self._enable_buttons()
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Number columns as wide as their longest text (header lines included) and no wider: Qt's own
        fit reserves room for the sort arrow in every header, which pushed HD95 out of a 440 px dock.
        The name column stretches into what is left."""
        metrics = self.table.fontMetrics()
        for column in range(self.table.columnCount()):
            if column == 1:
                continue
            header = max(
                metrics.horizontalAdvance(line) for line in self.table.horizontalHeaderItem(column).text().split("\n")
            )
            cells = [
                metrics.horizontalAdvance(self.table.item(row, column).text())
                for row in range(self.table.rowCount())
                if self.table.item(row, column) is not None
            ]
            self.table.setColumnWidth(
                column, max([header + 24] + [width + 12 for width in cells])
            )  # 24: the sort arrow

    def _warm_label_boxes(self) -> None:
        """Find every label's bounding box off the GUI thread now, so that the first row click is as fast as the rest."""
        scene = self.controller.scene
        arrays = [image.array for image in (scene.fixed_labels, self.controller.warped_labels) if image is not None]
        self._warmer.request(lambda: [label_boxes(array) for array in arrays])

    def _enable_buttons(self) -> None:
        for button in (self.copy_button, self.save_button):
            button.setEnabled(self.table.rowCount() > 0)

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
