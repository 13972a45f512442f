"""The display toolbar: layout, plane, window / level presets, comparison options and colour maps."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QSlider, QToolBar, QWidget

from regviewer.core.compose import WINDOW_PRESETS
from regviewer.gui.colormaps import GREY_MAPS
from regviewer.gui.views.view_grid import LAYOUTS, ViewGrid

LAYOUT_TITLES = {"2x2": "2 x 2", "1x3": "1 x 3", "1x1": "Single view"}


def _combo(name: str, items: list[tuple[str, object]], tooltip: str) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setToolTip(tooltip)
    for text, data in items:
        combo.addItem(text, data)
    return combo


def _slider(name: str, low: int, high: int, value: int, tooltip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setObjectName(name)
    slider.setRange(low, high)
    slider.setValue(value)
    slider.setFixedWidth(90)
    slider.setToolTip(tooltip)
    return slider


class ViewControls(QToolBar):
    """Controls of the linked views; every control writes to the grid's shared ViewLink."""

    def __init__(self, grid: ViewGrid, parent: QWidget | None = None) -> None:
        super().__init__("Display", parent)
        self.setObjectName("displayToolbar")
        self.grid = grid
        link = grid.link
        self.layout_combo = _combo("layoutCombo", [(LAYOUT_TITLES[n], n) for n in LAYOUTS], "View layout")
        self.layout_combo.activated.connect(lambda i: grid.set_layout(self.layout_combo.itemData(i)))
        self.plane_combo = _combo(
            "planeAllCombo",
            [(p.capitalize(), p) for p in ("axial", "coronal", "sagittal")],
            "Plane of every view (each view also has its own selector)",
        )
        self.plane_combo.activated.connect(lambda i: grid.set_plane(self.plane_combo.itemData(i)))
        self.window_combo = _combo(
            "windowPresetCombo",
            [(n, n) for n in WINDOW_PRESETS],
            "Window / level preset (right-drag in a view adjusts it)",
        )
        self.window_combo.activated.connect(lambda i: grid.reset_windows(self.window_combo.itemData(i)))
        self.link_windows = QCheckBox("Link W/L")
        self.link_windows.setObjectName("linkWindowsCheck")
        self.link_windows.setToolTip("Use one window / level for the fixed and the moving image")
        self.link_windows.toggled.connect(self._link_windows)
        self.tile_slider = _slider(
            "tileSlider", 2, 100, int(link.options.tile_mm), "Checkerboard tile size in mm (Shift + wheel in the view)"
        )
        self.tile_slider.valueChanged.connect(lambda v: link.set_options(tile_mm=float(v)))
        self.alpha_slider = _slider(
            "alphaSlider", 0, 100, int(link.options.alpha * 100), "Blend: weight of the fixed image"
        )
        self.alpha_slider.valueChanged.connect(lambda v: link.set_options(alpha=v / 100.0))
        self.flicker_spin = QDoubleSpinBox()
        self.flicker_spin.setObjectName("flickerSpin")
        self.flicker_spin.setRange(0.2, 20.0)
        self.flicker_spin.setValue(link.options.flicker_hz)
        self.flicker_spin.setSuffix(" Hz")
        self.flicker_spin.setToolTip("Flicker: alternations per second")
        self.flicker_spin.valueChanged.connect(lambda v: link.set_options(flicker_hz=float(v)))
        self.fixed_map = _combo("fixedColormapCombo", [(n, n) for n in GREY_MAPS], "Colour map of the fixed image")
        self.fixed_map.activated.connect(lambda i: link.set_options(fixed_colormap=self.fixed_map.itemData(i)))
        self.moving_map = _combo("movingColormapCombo", [(n, n) for n in GREY_MAPS], "Colour map of the moving image")
        self.moving_map.activated.connect(lambda i: link.set_options(moving_colormap=self.moving_map.itemData(i)))
        self.labels_check = QCheckBox("Labels")
        self.labels_check.setObjectName("showLabelsCheck")
        self.labels_check.setChecked(link.options.show_labels)
        self.labels_check.toggled.connect(lambda on: link.set_options(show_labels=on))
        self.label_opacity = _slider(
            "labelOpacitySlider", 0, 100, int(link.options.label_opacity * 100), "Label opacity"
        )
        self.label_opacity.valueChanged.connect(lambda v: link.set_options(label_opacity=v / 100.0))
        link.optionsChanged.connect(self._show_options)
        for text, widget in (
            ("Layout", self.layout_combo),
            ("Plane", self.plane_combo),
            ("W/L", self.window_combo),
            (None, self.link_windows),
            ("Tile", self.tile_slider),
            ("Blend", self.alpha_slider),
            ("Flicker", self.flicker_spin),
            ("Fixed", self.fixed_map),
            ("Moving", self.moving_map),
            (None, self.labels_check),
            (None, self.label_opacity),
        ):
            if text:
                self.addWidget(QLabel(f" {text} "))
            self.addWidget(widget)

    def _show_options(self) -> None:
        """Follow option changes made elsewhere (e.g. Shift + wheel changes the tile size)."""
        options = self.grid.link.options
        for slider, value in ((self.tile_slider, options.tile_mm), (self.alpha_slider, options.alpha * 100)):
            slider.blockSignals(True)
            slider.setValue(int(round(value)))
            slider.blockSignals(False)

    def _link_windows(self, linked: bool) -> None:
        link = self.grid.link
        link.windows_linked = linked
        if linked:
            link.set_window("fixed", link.windows["fixed"])

    def sync(self) -> None:
        """Show the grid's current layout and plane."""
        self.layout_combo.setCurrentIndex(self.layout_combo.findData(self.grid.layout_name))
        planes = self.grid.scene.space.planes if self.grid.scene.space is not None else ("axial",)
        for index in range(self.plane_combo.count()):
            self.plane_combo.model().item(index).setEnabled(self.plane_combo.itemData(index) in planes)
