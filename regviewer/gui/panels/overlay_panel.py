"""The "Overlays" dock: what is drawn on which view, its settings, Jacobian statistics and fold navigation.

Every control writes to the shared ``OverlayController``; the views redraw through their overlays.
The statistics come from the controller's whole-volume figures (computed off the GUI thread for
final transforms only), so they read "computing..." for a moment after a new transform.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from regviewer.gui.overlays.settings import FIXED_SPACE_ONLY, KINDS, TITLES

VIEW_NAMES = ("Fixed", "Moving", "Warped", "Compare")
_OBJECT_PREFIX = {
    "grid": "grid",
    "jacobian": "jacobian",
    "magnitude": "magnitude",
    "arrows": "arrows",
    "contours": "contours",
    "agreement": "agreement",
}


def _number(value: float, digits: int = 4) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


class OverlayPanel(QWidget):
    """Checkboxes and settings of every overlay, Jacobian statistics and the fold navigator."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.enable_boxes: dict[str, QCheckBox] = {}
        self.view_boxes: dict[str, list[QCheckBox]] = {}
        self.opacity_sliders: dict[str, QSlider] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for kind in KINDS:
            layout.addWidget(self._kind_box(kind))
        layout.addWidget(self._statistics_box())
        layout.addStretch(1)
        controller.summaryChanged.connect(self.update_statistics)
        controller.settingsChanged.connect(self.sync)
        self.sync()
        self.update_statistics()

    # ---- building -----------------------------------------------------------------------------
    def _kind_box(self, kind: str) -> QGroupBox:
        box = QGroupBox()
        grid = QGridLayout(box)
        grid.setContentsMargins(4, 2, 4, 2)
        enable = QCheckBox(TITLES[kind])
        enable.setObjectName(f"{_OBJECT_PREFIX[kind]}Check")
        enable.toggled.connect(lambda on, k=kind: self.controller.set_options(k, enabled=on))
        self.enable_boxes[kind] = enable
        grid.addWidget(enable, 0, 0, 1, 3)
        views = QHBoxLayout()
        self.view_boxes[kind] = []
        for index, name in enumerate(VIEW_NAMES):
            check = QCheckBox(name)
            check.setObjectName(f"{_OBJECT_PREFIX[kind]}View{index}")
            if name == "Moving" and kind in FIXED_SPACE_ONLY:
                check.setEnabled(False)
                check.setToolTip("defined on the fixed grid only")
            check.toggled.connect(lambda _on, k=kind: self._views_changed(k))
            self.view_boxes[kind].append(check)
            views.addWidget(check)
        grid.addLayout(views, 1, 0, 1, 3)
        opacity = QSlider(Qt.Orientation.Horizontal)
        opacity.setObjectName(f"{_OBJECT_PREFIX[kind]}Opacity")
        opacity.setRange(0, 100)
        opacity.setToolTip("opacity")
        opacity.valueChanged.connect(lambda value, k=kind: self.controller.set_options(k, opacity=value / 100))
        self.opacity_sliders[kind] = opacity
        grid.addWidget(QLabel("Opacity"), 2, 0)
        grid.addWidget(opacity, 2, 1, 1, 2)
        extra = getattr(self, f"_{kind}_settings")()
        if extra is not None:
            grid.addLayout(extra, 3, 0, 1, 3)
        return box

    def _spin(
        self, name: str, low: float, high: float, step: float, suffix: str, tooltip: str, apply, decimals: int = 1
    ):
        spin = QDoubleSpinBox() if decimals else QSpinBox()
        spin.setObjectName(name)
        if decimals:
            spin.setDecimals(decimals)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        spin.setToolTip(tooltip)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(apply)
        return spin

    def _grid_settings(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.grid_spacing = self._spin(
            "gridSpacing",
            1.0,
            200.0,
            1.0,
            " mm",
            "distance between grid lines",
            lambda v: self.controller.set_params(grid_spacing_mm=float(v)),
        )
        self.grid_colour_button = QPushButton("Colour...")
        self.grid_colour_button.setObjectName("gridColourButton")
        self.grid_colour_button.clicked.connect(self._choose_grid_colour)
        row.addWidget(QLabel("Spacing"))
        row.addWidget(self.grid_spacing)
        row.addWidget(self.grid_colour_button)
        return row

    def _jacobian_settings(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.jacobian_limit = self._spin(
            "jacobianLimit",
            1.1,
            20.0,
            0.1,
            "x",
            "colour scale from 1/limit (blue) to limit (red)",
            lambda v: self.controller.set_params(jacobian_limit=float(v)),
            decimals=2,
        )
        row.addWidget(QLabel("Scale limit"))
        row.addWidget(self.jacobian_limit)
        return row

    def _magnitude_settings(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.magnitude_max = self._spin(
            "magnitudeMax",
            0.0,
            500.0,
            0.5,
            " mm",
            "top of the colour scale (0 = automatic)",
            lambda v: self.controller.set_params(magnitude_max_mm=float(v)),
        )
        self.magnitude_max.setSpecialValueText("auto")
        row.addWidget(QLabel("Max"))
        row.addWidget(self.magnitude_max)
        return row

    def _arrows_settings(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.arrow_every = self._spin(
            "arrowEvery",
            2,
            64,
            1,
            " px",
            "one arrow every N pixels",
            lambda v: self.controller.set_params(arrow_every_px=int(v)),
            decimals=0,
        )
        self.arrow_scale = self._spin(
            "arrowScale",
            0.1,
            20.0,
            0.5,
            "x",
            "arrow length / displacement",
            lambda v: self.controller.set_params(arrow_scale=float(v)),
        )
        row.addWidget(QLabel("Every"))
        row.addWidget(self.arrow_every)
        row.addWidget(QLabel("Scale"))
        row.addWidget(self.arrow_scale)
        return row

    def _contours_settings(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.contour_width = self._spin(
            "contourWidth",
            0.5,
            6.0,
            0.5,
            " px",
            "line width",
            lambda v: self.controller.set_params(contour_width=float(v)),
        )
        self.table_label = QLabel()
        self.table_label.setObjectName("colourTableLabel")
        row.addWidget(QLabel("Width"))
        row.addWidget(self.contour_width)
        row.addWidget(self.table_label, 1)
        return row

    def _agreement_settings(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.agreement_combo = QComboBox()
        self.agreement_combo.setObjectName("agreementLabelCombo")
        self.agreement_combo.activated.connect(
            lambda i: self.controller.set_params(agreement_label=self.agreement_combo.itemData(i))
        )
        row.addWidget(QLabel("Label"))
        row.addWidget(self.agreement_combo, 1)
        return row

    def _statistics_box(self) -> QGroupBox:
        box = QGroupBox("Jacobian determinant (whole fixed grid)")
        layout = QVBoxLayout(box)
        self.stats_label = QLabel()
        self.stats_label.setObjectName("jacobianStats")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats_label.setWordWrap(True)
        layout.addWidget(self.stats_label)
        row = QHBoxLayout()
        self.previous_fold = QPushButton("Previous fold")
        self.previous_fold.setObjectName("previousFoldButton")
        self.previous_fold.clicked.connect(lambda: self.controller.go_to_fold(-1))
        self.next_fold = QPushButton("Next fold")
        self.next_fold.setObjectName("nextFoldButton")
        self.next_fold.clicked.connect(lambda: self.controller.go_to_fold(1))
        row.addWidget(self.previous_fold)
        row.addWidget(self.next_fold)
        layout.addLayout(row)
        self.fold_label = QLabel()
        self.fold_label.setObjectName("foldLabel")
        self.fold_label.setWordWrap(True)
        layout.addWidget(self.fold_label)
        return box

    # ---- updates ------------------------------------------------------------------------------
    def _views_changed(self, kind: str) -> None:
        views = [index for index, check in enumerate(self.view_boxes[kind]) if check.isChecked()]
        self.controller.set_options(kind, views=views)

    def _choose_grid_colour(self) -> None:
        colour = QColorDialog.getColor(QColor(*self.controller.settings.grid_colour), self, "Grid colour")
        if colour.isValid():
            self.controller.set_params(grid_colour=(colour.red(), colour.green(), colour.blue()))

    def sync(self) -> None:
        """Show the controller's settings (without echoing them back)."""
        settings = self.controller.settings
        widgets = [
            *self.enable_boxes.values(),
            *self.opacity_sliders.values(),
            self.grid_spacing,
            self.jacobian_limit,
            self.magnitude_max,
            self.arrow_every,
            self.arrow_scale,
            self.contour_width,
            self.agreement_combo,
        ]
        widgets += [check for checks in self.view_boxes.values() for check in checks]
        for widget in widgets:
            widget.blockSignals(True)
        for kind in KINDS:
            option = settings.options[kind]
            self.enable_boxes[kind].setChecked(option.enabled)
            self.opacity_sliders[kind].setValue(int(round(option.opacity * 100)))
            for index, check in enumerate(self.view_boxes[kind]):
                check.setChecked(index in option.views)
        self.grid_spacing.setValue(settings.grid_spacing_mm)
        self.grid_colour_button.setStyleSheet("background-color: rgb(%d, %d, %d);" % tuple(settings.grid_colour))
        self.jacobian_limit.setValue(settings.jacobian_limit)
        self.magnitude_max.setValue(settings.magnitude_max_mm)
        self.arrow_every.setValue(settings.arrow_every_px)
        self.arrow_scale.setValue(settings.arrow_scale)
        self.contour_width.setValue(settings.contour_width)
        self._fill_agreement_labels()
        for widget in widgets:
            widget.blockSignals(False)

    def _fill_agreement_labels(self) -> None:
        table = self.controller.colour_table()
        values = [int(v) for v in self.controller.scene.label_values()]
        self.table_label.setText(f"names: {table.source}" if values else "no labels loaded")
        key = (id(table), tuple(values))
        if key == getattr(self, "_filled", None):
            self.agreement_combo.setCurrentIndex(
                max(self.agreement_combo.findData(self.controller.settings.agreement_label), 0)
            )
            return
        self._filled = key
        self.agreement_combo.clear()
        self.agreement_combo.addItem("All labels", None)
        for value in values:
            self.agreement_combo.addItem(f"{value}: {table.name(value)}", value)
        found = self.agreement_combo.findData(self.controller.settings.agreement_label)
        self.agreement_combo.setCurrentIndex(max(found, 0))

    def update_statistics(self) -> None:
        controller = self.controller
        summary = controller.summary
        if controller.error:
            self.stats_label.setText(f"Cannot compute: {controller.error}")
        elif controller.computing:
            self.stats_label.setText("computing...")
        elif summary is None:
            self.stats_label.setText("no fixed image")
        else:
            stats = summary.stats
            stale = "" if controller.current else "of the last final transform (updated when the run ends):\n"
            self.stats_label.setText(
                f"{stale}min {_number(stats['jacobian_min'])}   max {_number(stats['jacobian_max'])}\n"
                f"folded (det <= 0): {stats['folded_pct']:.3g} % ({stats['folded_count']} voxels)\n"
                f"std of log J: {_number(stats['std_log_jacobian'])}"
            )
        folds = summary.folds if summary is not None and not controller.computing else []
        self.previous_fold.setEnabled(bool(folds))
        self.next_fold.setEnabled(bool(folds))
        if not folds:
            self.fold_label.setText("no folds" if summary is not None and not controller.computing else "")
        elif controller.fold_index < 0:
            self.fold_label.setText(f"{len(folds)} folded region{'s' if len(folds) > 1 else ''}: press Next fold")
        else:
            fold = folds[controller.fold_index]
            self.fold_label.setText(
                f"fold {controller.fold_index + 1} / {len(folds)}: {fold.voxel_count} voxels, "
                f"min det {fold.min_jacobian:.3g}"
            )
        if self.agreement_combo.count() != len(controller.scene.label_values()) + 1:
            self.sync()
