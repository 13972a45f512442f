"""The display toolbar: layout, plane, window / level presets, comparison options and colour maps.

Compact enough to fit a 1280 px wide window without an overflow menu: short sliders, colour map
boxes as wide as their current name. The Plane box follows the views (blank when they show
different planes; disabled for a 2D image), the W/L box shows "Custom" after a drag.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QSlider, QToolBar, QWidget

from regviewer.core.compose import WINDOW_PRESETS
from regviewer.gui.colormaps import GREY_MAPS
from regviewer.gui.views.view_grid import LAYOUTS, ViewGrid

LAYOUT_TITLES = {"2x2": "2 x 2", "1x3": "1 x 3", "1x1": "Single"}
SLIDER_WIDTH = 64
CUSTOM = "Custom"


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
    slider.setFixedWidth(SLIDER_WIDTH)
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
            [(n, n) for n in WINDOW_PRESETS] + [(CUSTOM, None)],
            "Window / level preset (right-drag in a view adjusts it: Custom)",
        )
        self.window_combo.model().item(self.window_combo.count() - 1).setEnabled(False)  # shown, not chosen
        self.window_combo.activated.connect(self._preset_chosen)
        grid.windowPresetChanged.connect(self._show_preset)
        grid.planesChanged.connect(self._show_plane)
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
        for combo in (self.fixed_map, self.moving_map):  # as wide as a short name; the list shows the long ones
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(5)
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

    def _preset_chosen(self, index: int) -> None:
        preset = self.window_combo.itemData(index)
        if preset is not None:
            self.grid.reset_windows(preset)

    def _show_preset(self) -> None:
        """Show the preset applied, or "Custom" after a drag changed the window / level."""
        found = self.window_combo.findText(self.grid.window_preset)
        self.window_combo.setCurrentIndex(found if found >= 0 else self.window_combo.findText(CUSTOM))

    def _show_plane(self) -> None:
        """Show the plane all views share (blank when they show different planes)."""
        plane = self.grid.common_plane()
        self.plane_combo.setCurrentIndex(self.plane_combo.findData(plane) if plane else -1)

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
        self.plane_combo.setEnabled(len(planes) > 1)  # a 2D image has one plane
        self.plane_combo.setToolTip("Plane of every view" if len(planes) > 1 else "A 2D image has one plane")
        self._show_plane()
        self._show_preset()
        scene = self.grid.scene
        for combo, image, role in ((self.fixed_map, scene.fixed, "fixed"), (self.moving_map, scene.moving, "moving")):
            colour = image is not None and image.colour is not None
            combo.setEnabled(not colour)  # a colour picture is shown in its own colours: no map applies
            combo.setToolTip(
                f"The {role} picture is shown in its own colours (colour maps apply to grey images)"
                if colour
                else f"Colour map of the {role} image"
            )
