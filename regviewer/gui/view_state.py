"""The Qt face of the state linked views share: ``ViewLink`` relays a ``ViewerState`` as Qt signals.

The state itself - cursor (LPS mm), visible range of each plane, window / level PER IMAGE, the
options of the comparison modes, layout - lives in the Qt-free ``regviewer.app.ViewerState``
(session files save it; its re-entrancy guard keeps linked views from echoing changes). ``ViewLink``
gives the views the attribute and setter names they use and re-emits the state's events as Qt
signals, so views connect to it like to any QObject.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from regviewer.app.viewer_state import CompareOptions, ViewerState  # noqa: F401  (CompareOptions: re-exported)
from regviewer.core.compose import WindowLevel
from regviewer.gui.model_link import subscribe


class ViewLink(QObject):
    """Qt signals and setters over one ``ViewerState`` (see the module docstring)."""

    cursorChanged = Signal(object)  # np.ndarray, LPS mm (3,)
    rangeChanged = Signal(str, object)  # plane, (x0, x1, y0, y1) in scene mm
    windowChanged = Signal()
    optionsChanged = Signal()

    def __init__(self, parent: QObject | None = None, state: ViewerState | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else ViewerState()
        subscribe(self, self.state.cursor_changed, self.cursorChanged.emit)
        subscribe(self, self.state.range_changed, self.rangeChanged.emit)
        subscribe(self, self.state.window_changed, self._window_changed)
        subscribe(self, self.state.options_changed, self.optionsChanged.emit)

    def _window_changed(self, _role: str) -> None:
        self.windowChanged.emit()

    # ---- the state's values, by the names the views use ---------------------------------------
    cursor_mm = property(lambda self: self.state.cursor_mm)
    ranges = property(lambda self: self.state.ranges)
    windows = property(lambda self: self.state.windows)
    options = property(lambda self: self.state.options)

    @property
    def windows_linked(self) -> bool:
        return self.state.windows_linked

    @windows_linked.setter
    def windows_linked(self, value: bool) -> None:
        self.state.windows_linked = bool(value)

    @property
    def link_zoom(self) -> bool:
        return self.state.link_zoom

    @link_zoom.setter
    def link_zoom(self, value: bool) -> None:
        self.state.link_zoom = bool(value)

    @property
    def delivering(self) -> bool:
        """True while a change is being delivered to the views."""
        return self.state.delivering

    # ---- setters ------------------------------------------------------------------------------
    def set_cursor(self, point_mm: np.ndarray) -> None:
        self.state.set_cursor(point_mm)

    def set_range(self, plane: str, view_range: tuple[float, float, float, float]) -> None:
        self.state.set_range(plane, view_range)

    def set_window(self, which: str, window: WindowLevel) -> None:
        """Set the window of "fixed" or "moving" (both when windows are linked)."""
        self.state.set_window(which, window)

    def set_windows(self, fixed: WindowLevel, moving: WindowLevel) -> None:
        self.state.set_windows(fixed, moving)

    def set_options(self, **changes) -> None:
        self.state.set_options(**changes)
