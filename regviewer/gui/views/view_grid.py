"""The linked view grid: four slice views (fixed, moving, warped, checkerboard) sharing one ViewLink.

Used by the main window and, without a window, by ``regviewer render``: what a figure shows is
what the window shows.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QWidget

from regviewer.app.viewer_state import ViewerState
from regviewer.core.compose import WindowLevel, preset_window
from regviewer.core.image import Image
from regviewer.core.scene import Scene
from regviewer.core.transforms import Transform
from regviewer.gui.view_state import ViewLink
from regviewer.gui.views.slice_view import SliceView

LAYOUTS = {"2x2": (2, 2), "1x3": (1, 3), "1x1": (1, 1)}
DEFAULT_MODES = ("fixed", "moving", "warped", "checkerboard")


class ViewGrid(QWidget):
    """Four linked slice views in a 2x2, 1x3 or single layout.

    Signals: ``contentChanged()`` after new images or labels; ``transformChanged(preview)`` after a
    new transform, ``preview`` True for intermediate transforms (a running registration, a landmark
    being dragged) so that expensive listeners (whole-volume statistics) can wait for the final one;
    ``planesChanged()`` when a view shows another plane; ``windowPresetChanged()`` when the window /
    level preset changed (``window_preset``: the preset applied, "Custom" after a mouse drag).
    """

    contentChanged = Signal()
    transformChanged = Signal(bool)
    planesChanged = Signal()
    windowPresetChanged = Signal()

    def __init__(self, parent: QWidget | None = None, state: ViewerState | None = None) -> None:
        """``state``: the window's ViewerState (regviewer.app) the views show; None: a new one."""
        super().__init__(parent)
        self.scene = Scene()
        self.link = ViewLink(self, state)
        self.views = [SliceView(self.scene, self.link, mode) for mode in DEFAULT_MODES]
        self.window_preset = "Auto"
        for index, view in enumerate(self.views):
            view.setObjectName(f"view{index}")
            # the model records what each view shows (session files keep it)
            view.modeChanged.connect(lambda mode, i=index: self.link.state.set_view(i, mode=mode))
            view.plane_combo.currentIndexChanged.connect(lambda _row, i=index: self._plane_shown(i))
            view.planeChanged.connect(lambda _plane: self.planesChanged.emit())
            view.windowDragged.connect(self._window_dragged)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(3)
        self.layout_name = ""
        self.current_view = 0
        self.set_layout("2x2")

    # ---- layout -------------------------------------------------------------------------------
    def set_layout(self, name: str, current: int | None = None) -> None:
        """Arrange the views: "2x2", "1x3" (the first three) or "1x1" (the current view)."""
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
        if current is not None:
            self.current_view = current
        rows, cols = LAYOUTS[name]
        shown = [self.views[self.current_view]] if name == "1x1" else self.views[: rows * cols]
        for view in self.views:
            self._grid.removeWidget(view)
            view.setVisible(view in shown)
        for position, view in enumerate(shown):
            self._grid.addWidget(view, position // cols, position % cols)
        for index in range(3):  # equal cells, whatever the titles and combo boxes would like
            self._grid.setColumnStretch(index, 1 if index < cols else 0)
            self._grid.setRowStretch(index, 1 if index < rows else 0)
        self.layout_name = name
        self.link.state.set_layout(name, self.current_view)

    def _plane_shown(self, index: int) -> None:
        plane = self.views[index].plane_combo.currentData()
        if plane and plane != self.link.state.planes[index]:
            self.link.state.set_view(index, plane=plane)

    def apply_state(self) -> None:
        """Show the layout, modes and planes the ViewerState holds (e.g. after ``ViewerState.restore``)."""
        state = self.link.state
        for view, mode, plane in zip(self.views, state.modes, state.planes):
            if mode != view.mode:
                view.set_mode(mode)
            if plane != view.plane:
                view.set_plane(plane)
        self.set_layout(state.layout, state.current_view)

    def shown_views(self) -> list[SliceView]:
        """The views of the current layout."""
        return [view for view in self.views if self._grid.indexOf(view) >= 0]

    # ---- content ------------------------------------------------------------------------------
    def set_content(
        self,
        fixed: Image | None = None,
        moving: Image | None = None,
        fixed_labels: Image | None = None,
        moving_labels: Image | None = None,
        transform: Transform | None = None,
        reset_view: bool = True,
    ) -> None:
        """Show new content (validated first: on error the views keep what they showed).

        The windows, cursor and zoom are reset when ``reset_view`` is True or the reference image
        changed; otherwise (new labels, a new transform) the user's view is kept, except that an
        image that changed gets its own window (window / level belongs to an image: a new moving
        image never inherits the previous one's).
        """
        previous_reference = self.scene.fixed if self.scene.fixed is not None else self.scene.moving
        previous = {"fixed": self.scene.fixed, "moving": self.scene.moving}
        self.scene.set_images(fixed, moving, fixed_labels, moving_labels, transform)
        reference = fixed if fixed is not None else moving
        reset_view = reset_view or reference is not previous_reference
        for view in self.views:
            view.scene_changed()
        if reset_view:
            self.reset_windows()
            self.link.set_cursor(self.scene.centre_mm())
            self.fit_all()
        else:
            for role, image in (("fixed", fixed), ("moving", moving)):
                if image is not previous[role]:
                    self.link.state.image_replaced(role, image)
        self.contentChanged.emit()
        self.transformChanged.emit(False)

    def set_transform(self, transform: Transform | None, preview: bool = False) -> None:
        """Show another fixed -> moving transform (the Warped and comparison views follow).

        ``preview``: an intermediate transform (see ``transformChanged``)."""
        self.scene.replace(transform=transform)
        for view in self.views:
            if preview and view.mode in ("fixed", "moving"):
                view.refresh_overlays(True)  # their pixels do not depend on the transform: no redraw while previewing
            else:
                view.scene_changed()
        self.transformChanged.emit(preview)

    def reset_windows(self, preset: str = "Auto") -> None:
        """Window / level of both images from a preset (automatic presets look at each image)."""
        fixed = self._window(self.scene.fixed, preset)
        moving = self._window(self.scene.moving, preset)
        self.link.set_windows(fixed, moving)
        self.window_preset = preset
        self.windowPresetChanged.emit()

    def _window_dragged(self) -> None:
        if self.window_preset != "Custom":
            self.window_preset = "Custom"
            self.windowPresetChanged.emit()

    def common_plane(self) -> str | None:
        """The plane every shown view shows, or None when they differ."""
        planes = {view.plane for view in self.shown_views()}
        return planes.pop() if len(planes) == 1 else None

    def grab_figure(self):
        """The shown views as a picture (QPixmap) without their selectors and sliders: screenshots and figures."""
        from contextlib import ExitStack

        with ExitStack() as stack:
            for view in self.shown_views():
                stack.enter_context(view.figure_mode())
            self.layout().activate()
            return self.grab()

    @staticmethod
    def _window(image: Image | None, preset: str) -> WindowLevel:
        return preset_window(preset, image.array) if image is not None else WindowLevel(1.0, 0.5)

    def fit_all(self) -> None:
        """Fit every plane shown to the fixed grid."""
        fitted = set()
        for view in self.views:
            if view.plane not in fitted:
                view.fit()
                fitted.add(view.plane)

    def set_plane(self, plane: str) -> None:
        for view in self.views:
            view.set_plane(plane)
        self.fit_all()

    def set_cursor(self, point_mm: np.ndarray) -> None:
        self.link.set_cursor(point_mm)

    def set_tool(self, tool) -> None:
        """Give every view the same mouse tool (see SliceView.tool); None restores the default gestures."""
        for view in self.views:
            view.tool = tool

    def refresh_overlays(self) -> None:
        for view in self.views:
            view.refresh_overlays(True)
