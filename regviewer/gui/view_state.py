"""The state that linked views share, kept outside the widgets.

``ViewLink`` holds the cursor (LPS mm), the visible range of each plane (zoom and pan), the
window / level of the fixed and moving images and the options of the comparison modes. Views
read it when they draw and change it through its setters; every setter notifies all views once.
A re-entrancy guard drops changes made while a notification is being delivered, so that views
applying a change never echo it back (no ping-pong between linked views).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, Signal

from regviewer.core.compose import WindowLevel


@dataclass(frozen=True)
class CompareOptions:
    """Options of the comparison modes.

    Attributes:
        tile_mm: checkerboard tile size in mm.
        alpha: blend weight of the fixed image (0..1).
        flicker_hz: alternations per second in flicker mode.
        show_labels: draw loaded label maps over the views.
        label_opacity: opacity of the label colours (0..1).
        fixed_colormap, moving_colormap: names of the colour maps of grey images.
    """

    tile_mm: float = 20.0
    alpha: float = 0.5
    flicker_hz: float = 2.0
    show_labels: bool = True
    label_opacity: float = 0.4
    fixed_colormap: str = "grey"
    moving_colormap: str = "grey"


class ViewLink(QObject):
    """Shared state of one group of linked views (see the module docstring)."""

    cursorChanged = Signal(object)  # np.ndarray, LPS mm (3,)
    rangeChanged = Signal(str, object)  # plane, (x0, x1, y0, y1) in scene mm
    windowChanged = Signal()
    optionsChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cursor_mm = np.zeros(3)
        self.ranges: dict[str, tuple[float, float, float, float]] = {}
        self.windows: dict[str, WindowLevel] = {"fixed": WindowLevel(1, 0.5), "moving": WindowLevel(1, 0.5)}
        self.windows_linked = False
        self.options = CompareOptions()
        self.link_zoom = True
        self._delivering = False

    @contextmanager
    def _delivery(self) -> Iterator[bool]:
        """Yields False (and does nothing) when called from inside another notification."""
        if self._delivering:
            yield False
            return
        self._delivering = True
        try:
            yield True
        finally:
            self._delivering = False

    @property
    def delivering(self) -> bool:
        """True while a change is being delivered to the views."""
        return self._delivering

    def set_cursor(self, point_mm: np.ndarray) -> None:
        point = np.asarray(point_mm, dtype=np.float64).reshape(-1)
        if point.size == 2:
            point = np.append(point, self.cursor_mm[2])
        with self._delivery() as deliver:
            if deliver:
                self.cursor_mm = point
                self.cursorChanged.emit(point)

    def set_range(self, plane: str, view_range: tuple[float, float, float, float]) -> None:
        with self._delivery() as deliver:
            if deliver:
                self.ranges[plane] = tuple(float(v) for v in view_range)
                if self.link_zoom:
                    self.rangeChanged.emit(plane, self.ranges[plane])

    def set_window(self, which: str, window: WindowLevel) -> None:
        """Set the window of "fixed" or "moving" (both when windows are linked)."""
        with self._delivery() as deliver:
            if deliver:
                targets = ("fixed", "moving") if self.windows_linked else (which,)
                for target in targets:
                    self.windows[target] = window
                self.windowChanged.emit()

    def set_windows(self, fixed: WindowLevel, moving: WindowLevel) -> None:
        with self._delivery() as deliver:
            if deliver:
                self.windows = {"fixed": fixed, "moving": moving}
                self.windowChanged.emit()

    def set_options(self, **changes) -> None:
        with self._delivery() as deliver:
            if deliver:
                self.options = replace(self.options, **changes)
                self.optionsChanged.emit()
