"""The landmark feature's state in a window: the pairs, placement mode, the landmark fit and live warp.

One ``LandmarkController`` per main window connects the Qt-free ``LandmarkSet`` (with its undo
stack) to the views: the panel shows it, the markers draw it, the placement tool edits it. With a
fit chosen and "live warp" on, every edit refits: while a point is dragged the fit is shown as a
preview (``grid.set_transform(t, preview=True)``; a TPS is then drawn on every 4th voxel and
interpolated, see slice_warp), and once the drag ends the final fit replaces it (preview=False).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from regviewer.core.errors import RegViewerError
from regviewer.core.landmark_fit import FIT_KINDS, fit, leave_one_out, minimum_pairs, pair_errors
from regviewer.core.landmarks import LandmarkSet
from regviewer.core.tps import ThinPlateSplineTransform
from regviewer.core.transforms import Transform

PREVIEW_STRIDE = 4


class LandmarkController(QObject):
    """Pairs, mode and fit of one window (see the module docstring).

    Signals: ``changed()`` after any edit of the pairs (or new images), ``modeChanged(bool)``,
    ``fitChanged()`` after a new fit kind / live setting, ``message(str)`` for the status bar.
    """

    changed = Signal()
    selectionChanged = Signal(object)  # row or None
    modeChanged = Signal(bool)
    fitChanged = Signal()
    message = Signal(str)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.grid = window.grid
        self._sets: dict[int, LandmarkSet] = {}
        self.model = self._set_for(self._ndim())
        self.placing = False
        self.fit_kind = "tps"
        self.regularisation = 0.0
        self.live = False
        self.selected: int | None = None
        self.dragging = False
        self.tool = None  # the PlacementTool, set by install_landmarks
        self.markers: dict = {}  # SliceView -> LandmarkMarkers, set by install_landmarks
        self._loo_cache: tuple | None = None
        self.grid.contentChanged.connect(self._content_changed)

    # ---- model --------------------------------------------------------------------------------
    def _ndim(self) -> int:
        scene = self.grid.scene
        reference = scene.fixed if scene.fixed is not None else scene.moving
        return reference.ndim if reference is not None else 3

    def _set_for(self, ndim: int) -> LandmarkSet:
        """One set per image dimension, so loading 2D images never discards the 3D pairs."""
        if ndim not in self._sets:
            landmarks = LandmarkSet(ndim)
            landmarks.listeners.append(self._model_changed)
            self._sets[ndim] = landmarks
        return self._sets[ndim]

    def _content_changed(self) -> None:
        model = self._set_for(self._ndim())
        if model is not self.model:
            self.model = model
            self.selected = None
        self.changed.emit()

    def _model_changed(self) -> None:
        if self.selected is not None and self.selected >= len(self.model):
            self.selected = None
        self.changed.emit()
        if self.live and not self.dragging:
            self.apply_fit(quiet=True)

    def pairs_for_registration(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(fixed, moving) arrays of the complete active pairs in LPS mm, or (None, None) when there are none."""
        _rows, fixed, moving = self.model.complete_active()
        return (fixed, moving) if len(fixed) else (None, None)

    def select(self, row: int | None, move_cursor: bool = True) -> None:
        """Select a pair (highlighted in the views); ``move_cursor``: all views jump to its point."""
        self.selected = row if row is not None and 0 <= row < len(self.model) else None
        if move_cursor and self.selected is not None:
            pair = self.model[self.selected]
            point = pair.fixed if pair.fixed is not None else pair.moving
            if point is not None:
                self.grid.set_cursor(np.asarray(point))
        self.selectionChanged.emit(self.selected)
        self.grid.refresh_overlays()

    # ---- mode ---------------------------------------------------------------------------------
    def set_placing(self, on: bool) -> None:
        """Landmark mode: clicks add points and markers can be dragged; off: the views' usual gestures."""
        on = bool(on)
        if on == self.placing:
            return
        self.placing = on
        self.grid.set_tool(self.tool if on else None)
        self.modeChanged.emit(on)
        self.message.emit(
            "Landmark mode: click in Fixed, then in Moving; drag markers to move them" if on else "Landmark mode off"
        )

    # ---- transforms and errors ----------------------------------------------------------------
    def transform(self) -> Transform | None:
        return self.grid.scene.transform

    def suggest(self, side: str, point: np.ndarray) -> tuple[float, ...] | None:
        """Where the partner of a new point probably is: T(fixed) for a moving partner, T^-1(moving) for a fixed one."""
        transform = self.transform()
        if transform is None:
            return None
        try:
            moved = transform.transform_points(point) if side == "moving" else transform.inverse_transform_points(point)
        except (RegViewerError, np.linalg.LinAlgError, ValueError):
            return None
        return tuple(float(v) for v in np.asarray(moved).reshape(-1)) if np.all(np.isfinite(moved)) else None

    def residuals(self) -> np.ndarray:
        """Error (mm, fixed space, as in metrics.json) of every row under the shown transform; NaN for incomplete rows."""
        errors = np.full(len(self.model), np.nan)
        rows, fixed, moving = self.model.complete()
        if len(rows):
            try:
                errors[rows] = pair_errors(self.transform(), fixed, moving)
            except (RegViewerError, np.linalg.LinAlgError, ValueError):
                pass
        return errors

    def leave_one_out(self) -> np.ndarray:
        """Leave-one-out error of every complete active row for the chosen fit; NaN elsewhere.

        Cached per (pairs, fit): N refits are cheap for tens of pairs, but the table refreshes on
        every transform change too, where nothing here changed.
        """
        key = (self.model.pairs, self.fit_kind, self.regularisation)
        if self._loo_cache is not None and self._loo_cache[0] == key:
            return self._loo_cache[1].copy()
        errors = np.full(len(self.model), np.nan)
        rows, fixed, moving = self.model.complete_active()
        if len(rows) > minimum_pairs(self.fit_kind, self.model.ndim):
            errors[rows] = leave_one_out(self.fit_kind, fixed, moving, self.regularisation)
        self._loo_cache = (key, errors)
        return errors.copy()

    def set_fit(self, kind: str | None = None, live: bool | None = None, regularisation: float | None = None) -> None:
        if kind is not None:
            if kind not in FIT_KINDS:
                raise ValueError(f"unknown landmark fit {kind!r}")
            self.fit_kind = kind
        if live is not None:
            self.live = bool(live)
        if regularisation is not None:
            self.regularisation = float(regularisation)
        self.fitChanged.emit()
        if self.live:
            self.apply_fit(quiet=True)

    def fitted(self, preview: bool = False) -> Transform:
        """The chosen fit of the complete active pairs (raises LandmarkFitError when there are too few)."""
        _rows, fixed, moving = self.model.complete_active()
        geometry = self.grid.scene.fixed.geometry if self.grid.scene.fixed is not None else None
        transform = fit(self.fit_kind, fixed, moving, self.regularisation, geometry)
        if preview and isinstance(transform, ThinPlateSplineTransform):
            transform.display_stride = PREVIEW_STRIDE
        return transform

    def apply_fit(self, quiet: bool = False, preview: bool = False) -> bool:
        """Show the landmark fit in the views. ``quiet``: a status message instead of a dialog on failure."""
        if self.grid.scene.moving is None:
            return False
        try:
            transform = self.fitted(preview)
        except RegViewerError as error:
            if quiet:
                self.message.emit(f"Landmark fit: {error}")
                return False
            return self.window.show_error("Cannot fit the landmarks", str(error))
        if preview:
            self.grid.set_transform(transform, preview=True)
        else:
            self.window.set_transform(transform)
        return True

    # ---- dragging -----------------------------------------------------------------------------
    def drag_moved(self) -> None:
        """During a drag: a live preview fit (when enabled)."""
        if self.live:
            self.apply_fit(quiet=True, preview=True)

    def drag_finished(self) -> None:
        self.dragging = False
        self.changed.emit()
        if self.live:
            self.apply_fit(quiet=True)
