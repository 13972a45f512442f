"""What the linked views show, kept outside the widgets: cursor, zoom, window / level, modes, layout.

``ViewerState`` is Qt-free and evented (psygnal). The views read it when they draw and change it
through its setters; every setter notifies once. A re-entrancy guard drops changes made while a
notification is being delivered, so that views applying a change never echo it back (no
ping-pong between linked views).

Window / level is kept PER IMAGE: ``image_replaced(role, image)`` gives a new image the automatic
window of its own intensities, so a newly opened moving image never inherits the previous one's
window (an MNI volume with values to 8000 shown through a window made for 0..255 is a white
silhouette).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
from psygnal import Signal

from regviewer.core.compose import WindowLevel, preset_window
from regviewer.core.image import Image

WINDOW_ROLES = ("fixed", "moving")
LAYOUTS = ("2x2", "1x3", "1x1")
DEFAULT_MODES = ("fixed", "moving", "warped", "checkerboard")
SNAPSHOT_VERSION = 1


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
    label_opacity: float = 0.25  # the anatomy stays readable under the label colours
    fixed_colormap: str = "grey"
    moving_colormap: str = "grey"


def default_window() -> WindowLevel:
    return WindowLevel(1.0, 0.5)


class ViewerState:
    """Shared state of one group of linked views (see the module docstring).

    Events: ``cursor_changed(np.ndarray)``, ``range_changed(plane, (x0, x1, y0, y1))``,
    ``window_changed(role)`` (role "" when several changed), ``options_changed()``,
    ``layout_changed()`` (layout, view modes or planes).
    """

    cursor_changed = Signal(object)
    range_changed = Signal(str, object)
    window_changed = Signal(str)
    options_changed = Signal()
    layout_changed = Signal()

    def __init__(self) -> None:
        self.cursor_mm = np.zeros(3)
        self.ranges: dict[str, tuple[float, float, float, float]] = {}
        self.windows: dict[str, WindowLevel] = {role: default_window() for role in WINDOW_ROLES}
        self.window_presets: dict[str, str] = dict.fromkeys(WINDOW_ROLES, "Auto")
        self.windows_linked = False
        self.options = CompareOptions()
        self.link_zoom = True
        self.layout = "2x2"
        self.current_view = 0
        self.modes: list[str] = list(DEFAULT_MODES)
        self.planes: list[str] = ["axial"] * len(DEFAULT_MODES)
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

    # ---- setters ------------------------------------------------------------------------------
    def set_cursor(self, point_mm: np.ndarray) -> None:
        point = np.asarray(point_mm, dtype=np.float64).reshape(-1)
        if point.size == 2:
            point = np.append(point, self.cursor_mm[2])
        with self._delivery() as deliver:
            if deliver:
                self.cursor_mm = point
                self.cursor_changed.emit(point)

    def set_range(self, plane: str, view_range: tuple[float, float, float, float]) -> None:
        with self._delivery() as deliver:
            if deliver:
                self.ranges[plane] = tuple(float(v) for v in view_range)
                if self.link_zoom:
                    self.range_changed.emit(plane, self.ranges[plane])

    def set_window(self, which: str, window: WindowLevel, preset: str = "") -> None:
        """Set the window of "fixed" or "moving" (both when windows are linked); ``preset``: its name, if any."""
        with self._delivery() as deliver:
            if deliver:
                targets = WINDOW_ROLES if self.windows_linked else (which,)
                for target in targets:
                    self.windows[target] = window
                    self.window_presets[target] = preset
                self.window_changed.emit("" if len(targets) > 1 else which)

    def set_windows(self, fixed: WindowLevel, moving: WindowLevel, preset: str = "") -> None:
        with self._delivery() as deliver:
            if deliver:
                self.windows = {"fixed": fixed, "moving": moving}
                self.window_presets = dict.fromkeys(WINDOW_ROLES, preset)
                self.window_changed.emit("")

    def image_replaced(self, role: str, image: Image | None) -> None:
        """A new image in ``role``: its own automatic window (nothing is inherited from the old one)."""
        if role not in WINDOW_ROLES:
            return
        window = preset_window("Auto", image.array) if image is not None else default_window()
        self.windows[role] = window
        self.window_presets[role] = "Auto"
        if not self._delivering:
            self.window_changed.emit(role)

    def set_options(self, **changes: Any) -> None:
        with self._delivery() as deliver:
            if deliver:
                self.options = replace(self.options, **changes)
                self.options_changed.emit()

    def set_layout(self, name: str, current: int | None = None) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
        self.layout = name
        if current is not None:
            self.current_view = int(current)
        self.layout_changed.emit()

    def set_view(self, index: int, mode: str | None = None, plane: str | None = None) -> None:
        """Record the mode and plane a view shows (the views report their own changes)."""
        if mode is not None:
            self.modes[index] = mode
        if plane is not None:
            self.planes[index] = plane
        self.layout_changed.emit()

    # ---- sessions -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "cursor_mm": [float(v) for v in self.cursor_mm],
            "ranges": {plane: list(values) for plane, values in self.ranges.items()},
            "windows": {role: [window.window, window.level] for role, window in self.windows.items()},
            "window_presets": dict(self.window_presets),
            "windows_linked": self.windows_linked,
            "options": asdict(self.options),
            "link_zoom": self.link_zoom,
            "layout": self.layout,
            "current_view": self.current_view,
            "modes": list(self.modes),
            "planes": list(self.planes),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back a snapshot (unknown keys are ignored, missing ones keep their value)."""
        if "cursor_mm" in data:
            self.cursor_mm = np.asarray(data["cursor_mm"], dtype=np.float64).reshape(-1)
        self.ranges = {
            plane: tuple(float(v) for v in values) for plane, values in data.get("ranges", self.ranges).items()
        }
        for role, values in data.get("windows", {}).items():
            if role in WINDOW_ROLES:
                self.windows[role] = WindowLevel(float(values[0]), float(values[1]))
        self.window_presets.update({k: str(v) for k, v in data.get("window_presets", {}).items() if k in WINDOW_ROLES})
        self.windows_linked = bool(data.get("windows_linked", self.windows_linked))
        known = {item.name for item in fields(CompareOptions)}
        self.options = replace(self.options, **{k: v for k, v in data.get("options", {}).items() if k in known})
        self.link_zoom = bool(data.get("link_zoom", self.link_zoom))
        if data.get("layout") in LAYOUTS:
            self.layout = data["layout"]
        self.current_view = int(data.get("current_view", self.current_view))
        self.modes = list(data.get("modes", self.modes))
        self.planes = list(data.get("planes", self.planes))
        self.cursor_changed.emit(self.cursor_mm)
        self.window_changed.emit("")
        self.options_changed.emit()
        self.layout_changed.emit()
