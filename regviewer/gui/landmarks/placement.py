"""Landmark placement: the mouse tool the views use while landmark mode is on (``grid.set_tool``).

- A left click in the Fixed view places a fixed point: it completes the first pair that still lacks
  one, or starts a new pair. A left click in the Moving view does the same for moving points, so
  pairs complete in order. When a transform is shown, a new pair gets its partner suggested at
  T(fixed point) (or T^-1(moving point)) and the user only corrects it.
- A left click on an existing marker selects its pair instead of adding a point.
- A left drag that starts on a marker moves that point (one undo step per drag; live warp follows
  while dragging). A drag that starts elsewhere does what it always does (moves the cursor): a drag
  never adds a point, and outside landmark mode this tool is not installed at all.
- Other views (Warped, comparisons) and other buttons keep their usual gestures.
"""

from __future__ import annotations

import itertools

import numpy as np
from PySide6.QtCore import Qt

from regviewer.core.errors import RegViewerError
from regviewer.gui.landmarks.markers import view_side

_DRAG_IDS = itertools.count()


class PlacementTool:
    """SliceView tool (``mouse_event(view, kind, ev, point) -> bool``) for landmark mode."""

    def __init__(self, controller) -> None:
        self.controller = controller
        self._drag: tuple[int, str, object] | None = None  # (row, side, merge key)

    def _point_mm(self, view, point) -> np.ndarray:
        space = view.scene.space
        mm = space.point_from_scene(view.plane, point.x(), point.y(), view.link.cursor_mm)
        return mm[: self.controller.model.ndim]

    def mouse_event(self, view, kind: str, ev, point) -> bool:
        if ev.button() != Qt.MouseButton.LeftButton or view.scene.space is None or view.mode not in ("fixed", "moving"):
            return self._drag is not None and kind == "drag" and self._continue_drag(view, ev, point)
        if kind == "click":
            return self._click(view, ev, point)
        return self._drag_event(view, ev, point)

    # ---- clicks -------------------------------------------------------------------------------
    def _click(self, view, ev, point) -> bool:
        controller = self.controller
        side = view_side(view)
        markers = controller.markers.get(view)
        hit = markers.hit(ev.scenePos(), side) if markers is not None else None
        if hit is not None:
            controller.select(hit)
            return True
        mm = self._point_mm(view, point)
        model = controller.model
        try:
            row = model.next_incomplete(side)
            if row is not None and (model[row].fixed is not None or model[row].moving is not None):
                model.set_point(row, side, mm)
            else:
                other = "fixed" if side == "moving" else "moving"
                suggestion = controller.suggest(other, mm)
                row = model.add_pair(**{side: mm, other: suggestion})
        except RegViewerError as error:
            controller.message.emit(str(error))
            return True
        controller.select(row, move_cursor=False)
        return True

    # ---- drags --------------------------------------------------------------------------------
    def _drag_event(self, view, ev, point) -> bool:
        if ev.isStart():
            markers = self.controller.markers.get(view)
            side = view_side(view)
            hit = markers.hit(ev.buttonDownScenePos(), side) if markers is not None else None
            if hit is None:
                self._drag = None
                return False  # not on a marker: the usual cursor drag, never a new point
            self._drag = (hit, side, ("drag", next(_DRAG_IDS)))
            self.controller.dragging = True
            self.controller.select(hit, move_cursor=False)
        return self._continue_drag(view, ev, point)

    def _continue_drag(self, view, ev, point) -> bool:
        if self._drag is None:
            return False
        row, side, key = self._drag
        try:
            self.controller.model.set_point(row, side, self._point_mm(view, point), merge_key=key)
        except (RegViewerError, IndexError) as error:
            self.controller.message.emit(str(error))
        if ev.isFinish():
            self._drag = None
            self.controller.drag_finished()
        else:
            self.controller.drag_moved()
        return True
