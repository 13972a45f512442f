"""The landmark panel: a table of the pairs with their errors, editing buttons, fit and file actions.

Columns: name (editable), active (check box), fixed x/y/z and moving x/y/z in LPS mm (tooltips give
the voxel indices), the error of each pair under the shown transform (mm, fixed space, the
metrics.json definition) coloured green / orange / red so that outliers stand out, and the
leave-one-out error of the chosen fit. Below: mean / max error of the active pairs and of the
inactive ("held-out") ones. Clicking a row makes every view jump to the pair.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from regviewer.core.landmark_fit import FIT_KINDS

FIT_TITLES = {"rigid": "Rigid", "similarity": "Similarity", "affine": "Affine", "tps": "Thin-plate spline"}
NAME, ACTIVE, FIXED, MOVING = 0, 1, 2, 5
GOOD, FAIR, BAD = QColor(60, 170, 80), QColor(230, 150, 30), QColor(220, 50, 50)


def residual_colour(value: float, typical: float) -> QColor:
    """Green up to 1.5x the median error (or 1 mm), orange up to 3x (or 2 mm), red beyond: outliers stand out."""
    if value <= max(1.5 * typical, 1.0):
        return GOOD
    if value <= max(3.0 * typical, 2.0):
        return FAIR
    return BAD


def _mm(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.2f}"


class LandmarkPanel(QWidget):
    """The dock's widget; edits go through the controller's LandmarkSet (undoable)."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._filling = False
        self._build()
        controller.changed.connect(self.refresh)
        controller.selectionChanged.connect(self._show_selection)
        controller.modeChanged.connect(self.mode_button.setChecked)
        controller.fitChanged.connect(self._sync_fit)
        controller.grid.transformChanged.connect(lambda preview: None if preview else self.refresh())
        self.refresh()

    # ---- widgets ------------------------------------------------------------------------------
    def _button(self, text: str, name: str, slot, tip: str = "") -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _build(self) -> None:
        controller = self.controller
        self.mode_button = QPushButton("Landmark mode")
        self.mode_button.setObjectName("landmarkModeButton")
        self.mode_button.setCheckable(True)
        self.mode_button.setToolTip(
            "Click in Fixed to add a fixed point, in Moving to add its partner; drag markers to move them"
        )
        self.mode_button.toggled.connect(controller.set_placing)
        self.import_button = self._button("Import...", "landmarkImportButton", lambda: self.files.import_dialog())
        self.export_button = self._button("Export...", "landmarkExportButton", lambda: self.files.export_dialog())
        self.delete_button = self._button(
            "Delete", "landmarkDeleteButton", self.delete_selected, "Delete the selected pair"
        )
        self.up_button = self._button(
            "Up", "landmarkUpButton", lambda: self.move_selected(-1), "Move the selected pair up"
        )
        self.down_button = self._button(
            "Down", "landmarkDownButton", lambda: self.move_selected(1), "Move the selected pair down"
        )
        self.undo_button = self._button(
            "Undo", "landmarkUndoButton", controller.model_undo, "Undo the last landmark edit (Ctrl+Z)"
        )
        self.redo_button = self._button("Redo", "landmarkRedoButton", controller.model_redo, "Redo (Ctrl+Shift+Z)")
        self.apply_button = self._button(
            "Apply fit", "landmarkApplyButton", controller.apply_fit, "Show the landmark fit as the current transform"
        )
        buttons = QGridLayout()  # three columns keep the dock narrow enough for the views beside it
        for index, widget in enumerate(
            (
                self.mode_button,
                self.import_button,
                self.export_button,
                self.delete_button,
                self.up_button,
                self.down_button,
                self.undo_button,
                self.redo_button,
                self.apply_button,
            )
        ):
            buttons.addWidget(widget, index // 3, index % 3)

        self.fit_combo = QComboBox()
        self.fit_combo.setObjectName("landmarkFitCombo")
        for kind in FIT_KINDS:
            self.fit_combo.addItem(FIT_TITLES[kind], kind)
        self.fit_combo.setCurrentIndex(self.fit_combo.findData(controller.fit_kind))
        self.fit_combo.currentIndexChanged.connect(lambda i: controller.set_fit(kind=self.fit_combo.itemData(i)))
        self.regularisation = QDoubleSpinBox()
        self.regularisation.setObjectName("landmarkRegularisation")
        self.regularisation.setRange(0.0, 1e6)
        self.regularisation.setDecimals(3)
        self.regularisation.setToolTip(
            "TPS regularisation: 0 passes through every landmark; larger values smooth the map"
        )
        self.regularisation.valueChanged.connect(lambda v: controller.set_fit(regularisation=v))
        self.live_check = QCheckBox("Live warp")
        self.live_check.setObjectName("liveWarpCheck")
        self.live_check.setToolTip(
            "Refit and update the Warped and comparison views while landmarks change (BigWarp-style)"
        )
        self.live_check.toggled.connect(lambda on: controller.set_fit(live=on))
        fit_row = QHBoxLayout()
        fit_row.addWidget(QLabel("Fit:"))
        fit_row.addWidget(self.fit_combo, 1)
        fit_row.addWidget(self.regularisation)
        fit_row.addWidget(self.live_check)

        self.table = QTableWidget(0, 10)
        self.table.setObjectName("landmarkTable")
        self.table.setHorizontalHeaderLabels(
            [
                "Name",
                "Active",
                "Fixed x",
                "Fixed y",
                "Fixed z",
                "Moving x",
                "Moving y",
                "Moving z",
                "Error (mm)",
                "Leave-one-out (mm)",
            ]
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.itemChanged.connect(self._item_changed)
        self.table.cellClicked.connect(lambda row, _column: self.controller.select(row))
        self.summary = QLabel()
        self.summary.setObjectName("landmarkSummary")
        self.summary.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addLayout(fit_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)

    def _sync_fit(self) -> None:
        """Show the controller's fit settings (they may be changed from code or the menu)."""
        controller = self.controller
        for widget in (self.fit_combo, self.regularisation, self.live_check):
            widget.blockSignals(True)
        self.fit_combo.setCurrentIndex(self.fit_combo.findData(controller.fit_kind))
        self.regularisation.setValue(controller.regularisation)
        self.regularisation.setEnabled(controller.fit_kind == "tps")
        self.live_check.setChecked(controller.live)
        for widget in (self.fit_combo, self.regularisation, self.live_check):
            widget.blockSignals(False)
        self.refresh()

    # ---- filling ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the table from the model (coordinates only while a point is being dragged)."""
        controller = self.controller
        model = controller.model
        dragging = controller.dragging
        residuals = np.full(len(model), np.nan) if dragging else controller.residuals()
        loo = np.full(len(model), np.nan) if dragging else controller.leave_one_out()
        active_rows = [i for i, p in enumerate(model.pairs) if p.active and np.isfinite(residuals[i])]
        typical = float(np.median(residuals[active_rows])) if active_rows else 0.0
        self._filling = True
        if self.table.rowCount() != len(model):
            self.table.setRowCount(len(model))
        is_3d = model.ndim == 3
        for column in (4, 7):
            self.table.setColumnHidden(column, not is_3d)
        rows = (
            [controller.selected]
            if dragging and controller.selected is not None and self.table.rowCount() == len(model)
            else range(len(model))
        )
        for row in rows:
            pair = model[row]
            self._set(row, NAME, pair.name, editable=True)
            active = self._set(row, ACTIVE, "")
            if not active.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                active.setFlags(
                    Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsSelectable
                )
            state = Qt.CheckState.Checked if pair.active else Qt.CheckState.Unchecked
            if active.checkState() != state:
                active.setCheckState(state)
            for start, side in ((FIXED, "fixed"), (MOVING, "moving")):
                point = pair.point(side)
                tip = self._voxel_tip(side, point)
                for axis in range(3):
                    text = (
                        f"{point[axis]:.2f}"
                        if point is not None and axis < len(point)
                        else ("-" if axis < model.ndim else "")
                    )
                    self._set(row, start + axis, text, tip=tip)
            if not dragging:
                error = self._set(row, 8, _mm(residuals[row]))
                colour = residual_colour(residuals[row], typical) if np.isfinite(residuals[row]) else None
                error.setForeground(QBrush(colour) if colour is not None else QBrush())
                self._set(row, 9, _mm(loo[row]))
        self._filling = False
        if not dragging:
            self._summarise(residuals, loo)
        self._show_selection(controller.selected)
        self._update_buttons()

    def _set(self, row: int, column: int, text: str, editable: bool = False, tip: str = "") -> QTableWidgetItem:
        """Set a cell, touching Qt only where something changed (a drag refreshes the table on every move)."""
        item = self.table.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            item.setFlags(flags | Qt.ItemFlag.ItemIsEditable if editable else flags)
            self.table.setItem(row, column, item)
        if item.text() != text:
            item.setText(text)
        if item.toolTip() != tip:
            item.setToolTip(tip)
        return item

    def _voxel_tip(self, side: str, point) -> str:
        image = self.controller.grid.scene.fixed if side == "fixed" else self.controller.grid.scene.moving
        if point is None or image is None:
            return ""
        index = image.physical_to_index(np.asarray(point))
        return f"{side} voxel index (x, y{', z' if len(index) == 3 else ''}): " + ", ".join(f"{v:.1f}" for v in index)

    def _summarise(self, residuals: np.ndarray, loo: np.ndarray) -> None:
        model = self.controller.model
        active = np.array([p.active for p in model.pairs], dtype=bool)
        parts = []
        for label, chosen in (("active", active), ("held out (inactive)", ~active)):
            values = residuals[chosen & np.isfinite(residuals)] if len(model) else np.zeros(0)
            if values.size:
                parts.append(
                    f"{label}: {values.size} pair{'s' if values.size > 1 else ''}, error mean {values.mean():.2f} mm, max {values.max():.2f} mm"
                )
        finite_loo = loo[np.isfinite(loo)]
        if finite_loo.size:
            parts.append(
                f"leave-one-out ({FIT_TITLES[self.controller.fit_kind].lower()}): mean {finite_loo.mean():.2f} mm, "
                f"max {finite_loo.max():.2f} mm"
            )
        incomplete = sum(not p.complete for p in model.pairs)
        if incomplete:
            parts.append(f"{incomplete} incomplete pair{'s' if incomplete > 1 else ''}")
        self.summary.setText(
            "; ".join(parts)
            if parts
            else "No landmark pairs yet: turn on landmark mode and click in Fixed, then Moving."
        )

    def _show_selection(self, row) -> None:
        self.table.blockSignals(True)
        if row is None:
            self.table.clearSelection()
        else:
            self.table.selectRow(row)
        self.table.blockSignals(False)
        self._update_buttons()

    def _update_buttons(self) -> None:
        model, selected = self.controller.model, self.controller.selected
        self.delete_button.setEnabled(selected is not None)
        self.up_button.setEnabled(selected is not None and selected > 0)
        self.down_button.setEnabled(selected is not None and selected < len(model) - 1)
        self.undo_button.setEnabled(model.can_undo())
        self.undo_button.setToolTip(f"Undo {model.undo_text()} (Ctrl+Z)" if model.can_undo() else "Nothing to undo")
        self.redo_button.setEnabled(model.can_redo())
        self.redo_button.setToolTip(
            f"Redo {model.redo_text()} (Ctrl+Shift+Z)" if model.can_redo() else "Nothing to redo"
        )

    # ---- edits --------------------------------------------------------------------------------
    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        row, column = item.row(), item.column()
        model = self.controller.model
        if column == NAME and item.text().strip() and item.text().strip() != model[row].name:
            model.rename(row, item.text())
        elif column == ACTIVE:
            active = item.checkState() == Qt.CheckState.Checked
            if active != model[row].active:
                model.set_active(row, active)
        else:
            self.refresh()  # an empty name: show the old one again

    def delete_selected(self) -> None:
        row = self.controller.selected
        if row is not None:
            self.controller.model.delete(row)
            self.controller.select(
                min(row, len(self.controller.model) - 1) if len(self.controller.model) else None, move_cursor=False
            )

    def move_selected(self, step: int) -> None:
        row = self.controller.selected
        if row is None or not 0 <= row + step < len(self.controller.model):
            return
        self.controller.model.move_row(row, row + step)
        self.controller.select(row + step, move_cursor=False)
