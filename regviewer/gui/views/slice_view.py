"""One slice view: a plane of the scene drawn in one mode, linked to the others through a ViewLink.

Mouse: left click / drag moves the shared cursor; right drag changes window (horizontal) and
level (vertical); middle drag pans; the wheel steps slices; Ctrl + wheel zooms; Shift + wheel
changes the checkerboard tile size. Keys: Up / Down (and Left / Right) step one slice, Page Up /
Page Down ten, Home centres the cursor and fits the view.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from regviewer.core import compose
from regviewer.core.planes import DisplayGrid, PlaneAxes
from regviewer.core.scene import Scene
from regviewer.gui.colormaps import DIFFERENCE_MAP, LabelPalette, lookup_table
from regviewer.gui.view_state import ViewLink

MODE_TITLES = {
    "fixed": "Fixed",
    "moving": "Moving",
    "warped": "Warped",
    "checkerboard": "Checkerboard",
    "difference": "Difference",
    "blend": "Blend",
    "flicker": "Flicker",
    "swipe": "Swipe",
}
_LABEL_LAYER = {"fixed": "fixed_labels", "moving": "moving_labels", "warped": "warped_labels"}
CROSSHAIR_PEN = pg.mkPen((255, 210, 0, 200), width=1)


class _SliceViewBox(pg.ViewBox):
    """A ViewBox whose mouse gestures drive the view (see the module docstring)."""

    def __init__(self, view: SliceView) -> None:
        super().__init__(lockAspect=True, enableMenu=False, invertY=True)
        self._view = view
        self._window_start: tuple[float, float] | None = None

    def _tool_takes(self, kind: str, ev) -> bool:
        """Offer a mouse event to the view's tool (e.g. landmark placement) first."""
        tool = self._view.tool
        if tool is None or not tool.mouse_event(self._view, kind, ev, self.mapSceneToView(ev.scenePos())):
            return False
        ev.accept()
        return True

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (Qt naming)
        if self._tool_takes("click", ev):
            return
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._view.move_cursor_to_scene(self.mapSceneToView(ev.scenePos()))
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if self._tool_takes("drag", ev):
            return
        button = ev.button()
        if button == Qt.MouseButton.LeftButton:
            ev.accept()
            self._view.move_cursor_to_scene(self.mapSceneToView(ev.scenePos()))
        elif button == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.pos() - ev.lastPos()
            self._view.drag_window(delta.x(), delta.y())
        elif button == Qt.MouseButton.MiddleButton:
            super().mouseDragEvent(ev, axis)
        else:
            ev.ignore()

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802
        modifiers = ev.modifiers()
        steps = 1 if ev.delta() > 0 else -1
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
        elif modifiers & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            self._view.change_tile(steps)
        else:
            ev.accept()
            self._view.step_slice(steps)


class SliceView(QWidget):
    """A titled slice view with mode and plane selectors and a slice slider.

    Extension points (used by the overlay and landmark features, so they need not edit this class):

    - ``add_overlay(overlay)``: ``overlay.attach(view)`` once (add graphics items to
      ``view.view_box``), then ``overlay.refresh(view, slice_changed)`` after every redraw;
      ``slice_changed`` is True when the drawn slice, mode, plane, windows or content changed.
      An overlay whose own data changed calls ``view.refresh_overlays()``.
    - ``tool``: an object with ``mouse_event(view, kind, ev, point) -> bool`` where kind is "click"
      or "drag" and point the position in scene (display mm) coordinates; returning True consumes
      the event (the cursor does not move). None: the default gestures.
    """

    modeChanged = Signal(str)

    def __init__(
        self, scene: Scene, link: ViewLink, mode: str = "fixed", plane: str = "axial", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.scene, self.link = scene, link
        self.mode, self.plane = mode, plane
        self._flicker_on_fixed = True
        self._drawn_key: tuple | None = None
        self._palettes: dict[int, LabelPalette] = {}
        self.overlays: list = []
        self.tool = None
        self._build()
        self._flicker_timer = QTimer(self)
        self._flicker_timer.timeout.connect(self._toggle_flicker)
        link.cursorChanged.connect(lambda _point: self.redraw())
        link.windowChanged.connect(self.redraw)
        link.optionsChanged.connect(self._options_changed)
        link.rangeChanged.connect(self._apply_linked_range)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.set_mode(mode)

    # ---- widgets --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 0 4px;")
        # a long file name must not widen its column: the title is cut, the full text is the tooltip
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("modeCombo")
        for mode, title in MODE_TITLES.items():
            self.mode_combo.addItem(title, mode)
        self.mode_combo.activated.connect(lambda i: self.set_mode(self.mode_combo.itemData(i)))
        self.plane_combo = QComboBox()
        self.plane_combo.setObjectName("planeCombo")
        self.plane_combo.activated.connect(lambda i: self.set_plane(self.plane_combo.itemData(i)))
        header = QHBoxLayout()
        header.setContentsMargins(2, 2, 2, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.mode_combo)
        header.addWidget(self.plane_combo)

        self.graphics = pg.GraphicsView()
        self.graphics.setBackground("k")
        self.view_box = _SliceViewBox(self)
        self.graphics.setCentralItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.label_item = pg.ImageItem(axisOrder="row-major")
        self.label_item.setZValue(5)
        self.view_box.addItem(self.image_item)
        self.view_box.addItem(self.label_item)
        self.h_line = pg.InfiniteLine(angle=0, pen=CROSSHAIR_PEN, movable=False)
        self.v_line = pg.InfiniteLine(angle=90, pen=CROSSHAIR_PEN, movable=False)
        self.swipe_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((0, 200, 255), width=2), movable=True)
        self.swipe_line.setZValue(20)
        self.swipe_line.sigPositionChanged.connect(lambda _line: self.redraw(force=True))
        for item in (self.h_line, self.v_line, self.swipe_line):
            item.setZValue(10 + item.zValue())
            self.view_box.addItem(item, ignoreBounds=True)
        self.view_box.sigRangeChangedManually.connect(self._range_changed_by_user)
        self.view_box.sigResized.connect(
            lambda _box: self._apply_linked_range(self.plane, self.link.ranges.get(self.plane))
        )

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("sliceSlider")
        self.slider.valueChanged.connect(self._slider_moved)
        self.slice_label = QLabel()
        self.slice_label.setMinimumWidth(70)
        footer = QHBoxLayout()
        footer.setContentsMargins(2, 0, 2, 2)
        footer.addWidget(self.slider, 1)
        footer.addWidget(self.slice_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addLayout(header)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(footer)

    # ---- configuration ------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODE_TITLES:
            raise ValueError(f"unknown view mode {mode!r}")
        self.mode = mode
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))
        self.swipe_line.setVisible(mode == "swipe")
        if mode == "swipe":
            self._centre_swipe_line()
        self._update_flicker_timer()
        self.modeChanged.emit(mode)
        self.redraw(force=True)

    def set_plane(self, plane: str) -> None:
        self.plane = plane
        self.scene_changed()

    def scene_changed(self) -> None:
        """Call after the scene's content changed (new images, labels or transform)."""
        self.plane_combo.clear()
        planes = self.scene.space.planes if self.scene.space is not None else ("axial",)
        for plane in planes:
            self.plane_combo.addItem(plane.capitalize(), plane)
        if self.plane not in planes:
            self.plane = planes[0]
        self.plane_combo.setCurrentIndex(self.plane_combo.findData(self.plane))
        axes = self._axes()
        if axes is not None:
            self.view_box.invertX(axes.flip_x)
            self.view_box.invertY(axes.y_down)
        if self.mode == "swipe":
            self._centre_swipe_line()
        self.redraw(force=True)
        self._apply_linked_range(self.plane, self.link.ranges.get(self.plane))

    def _axes(self) -> PlaneAxes | None:
        space = self.scene.space
        if space is None:
            return None
        if self.plane not in space.planes:  # new images without this plane (2D); scene_changed() follows
            self.plane = space.planes[0]
        return space.axes(self.plane)

    def _grid(self) -> DisplayGrid | None:
        return self.scene.grid("moving" if self.mode == "moving" else "fixed") or self.scene.grid("moving")

    # ---- drawing ------------------------------------------------------------------------------
    def redraw(self, force: bool = False) -> None:
        """Redraw the slice through the cursor (skipped when nothing it depends on changed)."""
        self.title.setText(self._title())
        self.title.setToolTip(self.title.text())
        axes = self._axes()
        if axes is None:
            self.image_item.clear()
            self.label_item.clear()
            return
        x, y = self.scene.space.scene_point(self.plane, self.link.cursor_mm)
        self.v_line.setPos(x)
        self.h_line.setPos(y)
        grid = self._grid()
        index = grid.slice_index(axes, self.scene.space.to_display(self.link.cursor_mm)) if grid else None
        self._update_slider(axes, grid, index)
        key = (
            self.scene.version,
            self.mode,
            self.plane,
            index,
            self._flicker_on_fixed,
            tuple(self.link.windows.values()),
            self.link.options,
            round(self.swipe_line.value(), 3) if self.mode == "swipe" else None,
        )
        slice_changed = force or key != self._drawn_key
        if slice_changed:
            self._drawn_key = key
            self._draw_image(axes)
            self._draw_labels(axes)
        self.refresh_overlays(slice_changed)

    def add_overlay(self, overlay) -> None:
        """Attach an overlay (see the class docstring) and draw it."""
        overlay.attach(self)
        self.overlays.append(overlay)
        overlay.refresh(self, True)

    def refresh_overlays(self, slice_changed: bool = True) -> None:
        for overlay in self.overlays:
            overlay.refresh(self, slice_changed)

    def current_slice(self) -> tuple[PlaneAxes, DisplayGrid, int] | None:
        """(axes, grid, slice index) of the drawn slice; None when nothing is shown."""
        axes, grid = self._axes(), self._grid()
        if axes is None or grid is None:
            return None
        index = grid.slice_index(axes, self.scene.space.to_display(self.link.cursor_mm))
        return None if index is None else (axes, grid, index)

    def _title(self) -> str:
        title = MODE_TITLES[self.mode]
        image = self.scene.moving if self.mode in ("moving", "warped") else self.scene.fixed
        if self.mode in compose.COMPARISON_MODES:
            return f"{title}: fixed / warped"
        return f"{title}: {image.name}" if image is not None and image.name else title

    def composed_slice(self) -> tuple[np.ndarray | None, DisplayGrid | None]:
        """The 2D array drawn by this view (display units) and its grid; (None, grid) when empty."""
        cursor = self.link.cursor_mm
        windows = self.link.windows
        if self.mode in ("fixed", "moving", "warped"):
            source = "fixed" if self.mode == "fixed" else "moving"
            array, grid = self.scene.slice(self.mode, self.plane, cursor)
            return (None if array is None else compose.normalise(array, windows[source])), grid
        fixed, grid = self.scene.slice("fixed", self.plane, cursor)
        warped, _ = self.scene.slice("warped", self.plane, cursor)
        if fixed is None or warped is None:
            return (fixed if fixed is None else compose.normalise(fixed, windows["fixed"])), grid
        fixed = compose.normalise(fixed, windows["fixed"])
        warped = compose.normalise(warped, windows["moving"])
        options = self.link.options
        if self.mode == "checkerboard":
            axes = self._axes()
            tile = (options.tile_mm / grid.spacing[axes.row], options.tile_mm / grid.spacing[axes.col])
            return compose.checkerboard(fixed, warped, tile), grid
        if self.mode == "difference":
            return compose.difference(fixed, warped), grid
        if self.mode == "blend":
            return compose.blend(fixed, warped, options.alpha), grid
        if self.mode == "flicker":
            return (fixed if self._flicker_on_fixed else warped), grid
        axes = self._axes()
        x0 = grid.scene_rect(axes)[0]
        return compose.swipe(fixed, warped, (self.swipe_line.value() - x0) / grid.spacing[axes.col]), grid

    def _draw_image(self, axes: PlaneAxes) -> None:
        array, grid = self.composed_slice()
        if array is None:
            self.image_item.clear()
            return
        if self.mode == "difference":
            lut, levels = lookup_table(DIFFERENCE_MAP), (-1.0, 1.0)
        else:
            options = self.link.options
            name = options.moving_colormap if self.mode in ("moving", "warped") else options.fixed_colormap
            lut, levels = lookup_table(name), (0.0, 1.0)
        self.image_item.setImage(array, autoLevels=False, levels=levels, lut=lut)
        self.image_item.setRect(QRectF(*grid.scene_rect(axes)))

    def _draw_labels(self, axes: PlaneAxes) -> None:
        layer = _LABEL_LAYER.get(self.mode)
        options = self.link.options
        labels, grid = self.scene.slice(layer, self.plane, self.link.cursor_mm) if layer else (None, None)
        if labels is None or not options.show_labels:
            self.label_item.clear()
            return
        palette = self._palettes.get(self.scene.version)
        if palette is None:
            self._palettes = {self.scene.version: LabelPalette(self.scene.label_values())}
            palette = self._palettes[self.scene.version]
        self.label_item.setImage(palette.rgba(labels, options.label_opacity), autoLevels=False)
        self.label_item.setRect(QRectF(*grid.scene_rect(axes)))

    def _update_slider(self, axes: PlaneAxes, grid: DisplayGrid | None, index: int | None) -> None:
        count = grid.geometry.size[axes.normal] if grid is not None else 1
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        if index is not None:
            self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.slider.setEnabled(count > 1)
        self.slice_label.setText(f"{index + 1} / {count}" if index is not None else f"- / {count}")

    # ---- interaction --------------------------------------------------------------------------
    def move_cursor_to_scene(self, position) -> None:
        if self.scene.space is None:
            return
        point = self.scene.space.point_from_scene(self.plane, position.x(), position.y(), self.link.cursor_mm)
        self.link.set_cursor(point)

    def step_slice(self, steps: int) -> None:
        """Move the cursor ``steps`` slices along this view's plane normal (clamped to the grid)."""
        axes, grid = self._axes(), self._grid()
        if axes is None or grid is None:
            return
        q = self.scene.space.to_display(self.link.cursor_mm)
        index = grid.slice_index(axes, q)
        if index is None:
            index = int(
                np.clip(
                    np.round((q[axes.normal] - grid.offset[axes.normal]) / grid.spacing[axes.normal]),
                    0,
                    grid.geometry.size[axes.normal] - 1,
                )
            )
            steps = 0
        self._go_to_slice(axes, grid, index + steps)

    def _go_to_slice(self, axes: PlaneAxes, grid: DisplayGrid, index: int) -> None:
        index = int(np.clip(index, 0, grid.geometry.size[axes.normal] - 1))
        q = self.scene.space.to_display(self.link.cursor_mm)
        q[axes.normal] = grid.slice_centre(axes, index)
        self.link.set_cursor(self.scene.space.to_physical(q))

    def _slider_moved(self, value: int) -> None:
        axes, grid = self._axes(), self._grid()
        if axes is not None and grid is not None:
            self._go_to_slice(axes, grid, value)

    def drag_window(self, dx: float, dy: float) -> None:
        """Right drag: horizontal changes the window width, vertical the level (in image units)."""
        source = "moving" if self.mode in ("moving", "warped") else "fixed"
        window = self.link.windows[source]
        sensitivity = window.window / 200.0
        self.link.set_window(source, window.adjusted(dx * sensitivity, -dy * sensitivity))

    def change_tile(self, steps: int) -> None:
        tile = self.link.options.tile_mm * (1.25**steps)
        self.link.set_options(tile_mm=float(np.clip(tile, 1.0, 500.0)))

    def fit(self) -> None:
        """Show the whole fixed grid of this plane (and tell the linked views)."""
        axes, grid = self._axes(), self.scene.grid("fixed") or self.scene.grid("moving")
        if axes is None or grid is None:
            return
        x, y, width, height = grid.scene_rect(axes)
        self.view_box.setRange(QRectF(x, y, width, height), padding=0.02)
        self._range_changed_by_user()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        steps = {
            Qt.Key.Key_Up: 1,
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_Down: -1,
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_PageUp: 10,
            Qt.Key.Key_PageDown: -10,
        }.get(key)
        if steps is not None:
            self.step_slice(steps)
        elif key == Qt.Key.Key_Home:
            self.link.set_cursor(self.scene.centre_mm())
            self.fit()
        else:
            super().keyPressEvent(event)

    # ---- linking ------------------------------------------------------------------------------
    def _range_changed_by_user(self, *_args) -> None:
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        self.link.set_range(self.plane, (x0, x1, y0, y1))

    def _apply_linked_range(self, plane: str, view_range) -> None:
        if plane != self.plane or view_range is None:
            return
        x0, x1, y0, y1 = view_range
        self.view_box.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def _options_changed(self) -> None:
        self._update_flicker_timer()
        self.redraw()

    def _update_flicker_timer(self) -> None:
        if self.mode == "flicker":
            self._flicker_timer.start(int(1000 / max(self.link.options.flicker_hz, 0.1) / 2))
        else:
            self._flicker_timer.stop()

    def _toggle_flicker(self) -> None:
        self._flicker_on_fixed = not self._flicker_on_fixed
        self.redraw()

    def _centre_swipe_line(self) -> None:
        axes, grid = self._axes(), self.scene.grid("fixed")
        if axes is not None and grid is not None:
            x, _y, width, _h = grid.scene_rect(axes)
            self.swipe_line.blockSignals(True)
            self.swipe_line.setValue(x + width / 2)
            self.swipe_line.blockSignals(False)
