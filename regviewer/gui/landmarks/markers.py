"""Landmark markers drawn over the slice views (an overlay: ``view.add_overlay``).

- Fixed view and the comparison views (fixed space): the fixed points;
- Moving view: the moving points;
- Warped view (fixed space): the moving points carried into fixed space by the shown transform's
  inverse ("moving -> fixed (points)"), beside the fixed points, so a residual is visible as a gap.

Only points on the displayed slice are drawn (within half a slice spacing; every point in 2D).
Markers and names are sized in screen pixels (``pxMode``), so they stay readable at any zoom.
Inactive pairs are drawn grey, the selected pair larger with a white ring.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from regviewer.core.errors import RegViewerError
from regviewer.core.planes import lift_point

FIXED_COLOUR = (0, 210, 255)
MOVING_COLOUR = (255, 90, 210)
INACTIVE_COLOUR = (150, 150, 150)
MARKER_PX = 11
_PENS: dict = {}
_BRUSHES: dict = {}


def _pen(colour, width: int = 2):
    """Shared pens and brushes: pyqtgraph caches marker pictures per pen / brush object."""
    key = (colour, width)
    if key not in _PENS:
        _PENS[key] = pg.mkPen(colour, width=width)
    return _PENS[key]


def _brush(colour, alpha: int):
    key = (colour, alpha)
    if key not in _BRUSHES:
        _BRUSHES[key] = pg.mkBrush(*colour, alpha)
    return _BRUSHES[key]


FIXED_SPACE_MODES = ("fixed", "warped", "checkerboard", "difference", "blend", "flicker", "swipe")


def view_side(view) -> str:
    """Which landmarks a view's clicks and drags edit: moving points in the Moving view, fixed points elsewhere."""
    return "moving" if view.mode == "moving" else "fixed"


def visible_markers(controller, view) -> list[tuple[int, str, np.ndarray, float, float]]:
    """(row, side, point mm, scene x, scene y) of the markers a view shows on its current slice."""
    scene = view.scene
    current = view.current_slice()
    if scene.space is None or current is None:
        return []
    axes, grid, index = current
    centre = grid.slice_centre(axes, index)
    tolerance = 0.5 * grid.spacing[axes.normal] + 1e-6
    found = []
    for side, points in _points_for(controller, view):
        for row, point in points:
            q = scene.space.to_display(lift_point(point))
            if scene.space.is_2d or abs(q[axes.normal] - centre) <= tolerance:
                found.append((row, side, np.asarray(point), float(q[axes.col]), float(q[axes.row])))
    return found


def _points_for(controller, view) -> list[tuple[str, list[tuple[int, tuple]]]]:
    pairs = controller.model.pairs
    if view.mode == "moving":
        return [("moving", [(i, p.moving) for i, p in enumerate(pairs) if p.moving is not None])]
    fixed = ("fixed", [(i, p.fixed) for i, p in enumerate(pairs) if p.fixed is not None])
    if view.mode != "warped":
        return [fixed]
    rows = [i for i, p in enumerate(pairs) if p.moving is not None]
    if not rows:
        return [fixed]
    moving = np.array([pairs[i].moving for i in rows])
    transform = view.scene.transform
    try:
        carried = moving if transform is None else np.atleast_2d(transform.inverse_transform_points(moving))
    except (RegViewerError, np.linalg.LinAlgError, ValueError):
        return [fixed]
    return [fixed, ("carried", list(zip(rows, (tuple(p) for p in carried))))]


class _MarkerItem(pg.ScatterPlotItem):
    """Markers that never take mouse events (pyqtgraph ignores acceptedMouseButtons): the view's tool does."""

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        ev.ignore()

    def mouseDragEvent(self, ev) -> None:  # noqa: N802
        ev.ignore()


class LandmarkMarkers:
    """The overlay of one view (see the module docstring)."""

    def __init__(self, controller) -> None:
        self.controller = controller
        self.scatter: _MarkerItem | None = None
        self.labels: list[pg.TextItem] = []
        self.shown: list[tuple[int, str, np.ndarray, float, float]] = []

    def attach(self, view) -> None:
        self.scatter = _MarkerItem(pxMode=True)
        self.scatter.setZValue(30)
        view.view_box.addItem(self.scatter, ignoreBounds=True)
        self.view_box = view.view_box

    def refresh(self, view, slice_changed: bool) -> None:
        self.shown = visible_markers(self.controller, view)
        spots = []
        for row, side, _point, x, y in self.shown:
            pair = self.controller.model[row]
            colour = MOVING_COLOUR if side in ("moving", "carried") else FIXED_COLOUR
            if not pair.active:
                colour = INACTIVE_COLOUR
            selected = row == self.controller.selected
            spots.append(
                {
                    "pos": (x, y),
                    "size": MARKER_PX + (5 if selected else 0),
                    "symbol": "x" if side == "carried" else "o",
                    "brush": _brush(colour, 90 if side != "carried" else 255),
                    "pen": _pen((255, 255, 255) if selected else colour),
                }
            )
        self.scatter.setData(spots)
        self._draw_names(view)

    def _draw_names(self, view) -> None:
        named = [(row, x, y, side) for row, side, _p, x, y in self.shown if side != "carried"]
        while len(self.labels) < len(named):
            label = pg.TextItem(anchor=(-0.15, 1.1))
            label.setZValue(31)
            view.view_box.addItem(label, ignoreBounds=True)
            self.labels.append(label)
        for label, (row, x, y, side) in zip(self.labels, named):
            pair = self.controller.model[row]
            colour = (MOVING_COLOUR if side == "moving" else FIXED_COLOUR) if pair.active else INACTIVE_COLOUR
            if getattr(label, "_shown", None) != (pair.name, colour):
                label.setText(pair.name, color=colour)
                label._shown = (pair.name, colour)
            label.setPos(QPointF(x, y))
            label.setVisible(True)
        for label in self.labels[len(named) :]:
            label.setVisible(False)

    def hit(self, scene_pos: QPointF, side: str, radius_px: float = 10.0) -> int | None:
        """Row of the ``side`` marker nearest to a position in graphics-scene pixels, within ``radius_px``."""
        best, best_distance = None, radius_px
        for row, marker_side, _point, x, y in self.shown:
            if marker_side != side:
                continue
            pixel = self.view_box.mapViewToScene(QPointF(x, y))
            distance = float(np.hypot(pixel.x() - scene_pos.x(), pixel.y() - scene_pos.y()))
            if distance <= best_distance:
                best, best_distance = row, distance
        return best
