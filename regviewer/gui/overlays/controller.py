"""The shared brain of the overlays: settings, per-slice results (cached) and whole-volume figures.

Per-slice results (T on the slice, Jacobian, grid lines, contours ...) are cached by
(scene.version, kind, plane, slice index, settings), so views showing the same slice share them
and stepping back to a slice costs nothing. Whole-volume figures (Jacobian statistics, folds,
Dice / HD95 per label) are recomputed off the GUI thread, debounced, and only when the transform
is final: ``ViewGrid.transformChanged(preview=False)`` or ``contentChanged`` - never for the
previews of a running registration, which would queue seconds of work per iteration.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from scipy import ndimage

from regviewer.core.colour_table import ColourTable, table_for
from regviewer.core.deformation import displacement_magnitude
from regviewer.core.fast_points import inverse_points, linear_guess, map_points
from regviewer.core.label_stats import (
    DeformationSummary,
    LabelScores,
    deformation_summary,
    label_centre_mm,
    label_scores,
)
from regviewer.core.planes import DisplayGrid, PlaneAxes, lift_point
from regviewer.core.slice_deformation import (
    grid_lines,
    join_polylines,
    join_segments,
    label_contours,
    map_slice,
    orient_vectors,
    slice_jacobian,
    slice_points,
    to_scene,
)
from regviewer.gui.jobs import BackgroundJob
from regviewer.gui.overlays.settings import OverlaySettings

CACHE_BYTES = 96 * 2**20  # per-slice results kept (T on slices, Jacobians, lines, outlines)
DEBOUNCE_MS = 150
INVERSE_FULL_PIXELS = 64 * 64  # larger moving slices are inverted on every second pixel


def _nbytes(value: object) -> int:
    """Memory held by a cached result (arrays inside tuples and dicts counted; the rest as 64 bytes)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(item) for item in value)
    if isinstance(value, dict):
        return sum(_nbytes(item) for item in value.values())
    return 64


class OverlayController(QObject):
    """Settings and results of the overlays of one view grid (see the module docstring)."""

    settingsChanged = Signal()
    summaryChanged = Signal()  # Jacobian statistics / folds / label scores changed (or started computing)

    def __init__(self, grid, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.grid = grid
        self.scene = grid.scene
        self.settings = OverlaySettings()
        self.summary: DeformationSummary | None = None
        self.scores: LabelScores | None = None
        self.warped_labels = None
        self.error = ""
        self.fold_index = -1
        self.user_table: ColourTable | None = None
        self._table: tuple[int, ColourTable] | None = None
        self._before_labels: tuple[int, object] | None = None
        self._summary_version = -1
        self._magnitude_top: float | None = None
        self._told_stale = False
        self._cache: OrderedDict = OrderedDict()
        self._cache_bytes = 0
        self._job = BackgroundJob(self, name="regviewer-overlay-stats")
        self._job.finished.connect(self._volume_done)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._start_volume)
        grid.contentChanged.connect(self._content_changed)
        grid.transformChanged.connect(self._transform_changed)

    # ---- settings -----------------------------------------------------------------------------
    def set_settings(self, settings: OverlaySettings) -> None:
        self.settings = settings
        self.settingsChanged.emit()
        self.grid.refresh_overlays()

    def set_options(self, kind: str, **changes) -> None:
        """Change ``OverlayOptions`` of one kind (enabled, views, opacity)."""
        if "views" in changes:
            changes["views"] = frozenset(changes["views"])
        self.set_settings(self.settings.with_options(kind, **changes))

    def set_params(self, **changes) -> None:
        """Change the other settings (grid_spacing_mm, jacobian_limit, ...)."""
        from dataclasses import replace

        self.set_settings(replace(self.settings, **changes))

    def colour_table(self) -> ColourTable:
        """The user's table, else FreeSurfer's or a generic one for the loaded labels."""
        if self.user_table is not None:
            return self.user_table
        if self._table is None or self._table[0] != self.scene.version:
            self._table = (self.scene.version, table_for(self.scene.label_values()))
        return self._table[1]

    def set_colour_table(self, table: ColourTable | None) -> None:
        self.user_table = table
        self.clear_cache()
        self.settingsChanged.emit()
        self.grid.refresh_overlays()

    # ---- per-slice results --------------------------------------------------------------------
    def cached(self, key: tuple, compute: Callable[[], object]) -> object:
        """Per-slice results, least recently used dropped first beyond ``CACHE_BYTES``."""
        key = (self.scene.version,) + key
        found = self._cache.get(key)
        if found is None:
            found = compute()
            self._cache[key] = found
            self._cache_bytes += _nbytes(found)
            while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
                _key, dropped = self._cache.popitem(last=False)
                self._cache_bytes -= _nbytes(dropped)
        else:
            self._cache.move_to_end(key)
        return found

    def clear_cache(self) -> None:
        self._cache.clear()
        self._cache_bytes = 0

    @property
    def ndim(self) -> int:
        reference = self.scene.fixed if self.scene.fixed is not None else self.scene.moving
        return reference.ndim if reference is not None else 3

    def mapped(self, axes: PlaneAxes, grid: DisplayGrid, index: int) -> np.ndarray:
        """T at the voxel centres of a fixed-space slice, (z, y, x, 3) (one axis of length 1)."""
        return self.cached(
            ("mapped", axes.plane, index),
            lambda: map_slice(self.scene.transform, grid.slice_geometry(axes, index), self.ndim),
        )

    def jacobian(self, axes: PlaneAxes, grid: DisplayGrid, index: int, moving: bool = False) -> np.ndarray:
        """det(dT/dx) on a slice, (rows, cols); on a Moving view at x = T^-1(y) (NaN where not found)."""
        if moving:
            return self.cached(("jacobian-moving", axes.plane, index), lambda: self._moving_jacobian(axes, grid, index))
        return self.cached(
            ("jacobian", axes.plane, index),
            lambda: slice_jacobian(
                self.scene.transform, grid, axes, index, self.ndim, mapped_at=lambda k: self.mapped(axes, grid, k)
            ),
        )

    def displacement_q(self, axes: PlaneAxes, grid: DisplayGrid, index: int, moving: bool = False) -> np.ndarray:
        """T(x) - x in display coordinates, (rows, cols, 3); on a Moving view y - T^-1(y)."""

        def compute() -> np.ndarray:
            if moving:
                points, found = self.inverse(axes, grid, index)
                here = slice_points(grid, axes, index)
                result = (here - points) @ self.scene.space.direction
                result[~(found & self._inside_fixed(points))] = np.nan
                return result
            here = slice_points(grid, axes, index)
            return (orient_vectors(grid, axes, self.mapped(axes, grid, index)) - here) @ self.scene.space.direction

        return self.cached(("displacement", moving, axes.plane, index), compute)

    def inverse(self, axes: PlaneAxes, grid: DisplayGrid, index: int) -> tuple[np.ndarray, np.ndarray]:
        """x = T^-1(y) for the voxel centres y of a moving-space slice: ((rows, cols, 3), found mask).

        Large slices are inverted on every second pixel: the non-linear part of the inverse (what is
        left after the inverse of the affine part) is smooth, and is interpolated in between.
        """

        def compute():
            targets = slice_points(grid, axes, index)
            ndim, transform = self.ndim, self.scene.transform
            if transform is None:
                return targets, np.ones(targets.shape[:2], dtype=bool)
            step = 2 if targets.shape[0] * targets.shape[1] > INVERSE_FULL_PIXELS else 1
            coarse = targets[::step, ::step, :ndim]
            points, found = inverse_points(transform, coarse)
            if step > 1:
                correction = points - linear_guess(transform, coarse)
                rows, cols = np.meshgrid(
                    np.arange(targets.shape[0]) / step, np.arange(targets.shape[1]) / step, indexing="ij"
                )
                fine = [
                    ndimage.map_coordinates(correction[..., k], [rows, cols], order=1, mode="nearest")
                    for k in range(ndim)
                ]
                points = linear_guess(transform, targets[..., :ndim]) + np.stack(fine, axis=-1)
                found = ndimage.map_coordinates(found.astype(np.float32), [rows, cols], order=1, mode="nearest") > 0.999
            if ndim == 2:
                points = np.concatenate([points, targets[..., 2:]], axis=-1)
            return points, found

        return self.cached(("inverse", axes.plane, index), compute)

    def _inside_fixed(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 3) inside the fixed grid (within half a voxel of its outer voxel centres)."""
        fixed = self.scene.grid("fixed")
        if fixed is None:
            return np.ones(points.shape[:-1], dtype=bool)
        index = fixed.geometry.physical_to_index(points)
        size = np.array(fixed.geometry.size)
        return np.all((index >= -0.5) & (index <= size - 0.5), axis=-1)

    def _moving_jacobian(self, axes: PlaneAxes, grid: DisplayGrid, index: int) -> np.ndarray:
        """det(dT/dx) at x = T^-1(y): sampled from the whole-grid map when it is current, else by differences."""
        points, found = self.inverse(axes, grid, index)
        transform, ndim = self.scene.transform, self.ndim
        if transform is None:
            return np.ones(found.shape)
        inside = found & self._inside_fixed(points)
        summary = self.summary
        if self.current and summary.geometry is self.scene.fixed.geometry:
            index_xyz = summary.geometry.physical_to_index(points[..., :ndim])
            coordinates = np.moveaxis(index_xyz[..., ::-1], -1, 0)
            det = ndimage.map_coordinates(summary.det, coordinates, order=1, mode="nearest")
        else:
            geometry = (self.scene.grid("fixed") or grid).geometry
            every = 2 if found.size > INVERSE_FULL_PIXELS else 1  # smooth: differences on every second pixel
            coarse = points[::every, ::every, :ndim]
            derivatives = []
            for k in range(ndim):
                step = geometry.direction[:ndim, k] * geometry.spacing[k]
                derivatives.append((map_points(transform, coarse + step) - map_points(transform, coarse - step)) / 2.0)
            index_per_mm = np.linalg.inv(geometry.direction[:ndim, :ndim] @ np.diag(geometry.spacing[:ndim]))
            det = np.linalg.det(np.stack(derivatives, axis=-1) @ index_per_mm)
            if every > 1:
                rows, cols = np.meshgrid(
                    np.arange(found.shape[0]) / every, np.arange(found.shape[1]) / every, indexing="ij"
                )
                det = ndimage.map_coordinates(det, [rows, cols], order=1, mode="nearest")
        det[~inside] = np.nan
        return det

    def grid_polyline(
        self, axes: PlaneAxes, grid: DisplayGrid, index: int, moving: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The deformed grid of a slice as one NaN-separated (x, y) scene polyline (see slice_deformation)."""
        spacing = self.settings.grid_spacing_mm

        def compute():
            if moving:
                points, found = self.inverse(axes, grid, index)
                found = found & self._inside_fixed(points)
            else:
                points = orient_vectors(grid, axes, self.mapped(axes, grid, index))
                found = None
            coordinates = self.scene.space.to_display(points)
            lines = grid_lines(coordinates, axes, spacing, found)
            return join_polylines([to_scene(grid, axes, line) for line in lines])

        return self.cached(("grid", moving, axes.plane, index, spacing), compute)

    def contours(self, layer: str, plane: str, cursor: np.ndarray):
        """Label outlines of a layer's slice: {label: (x, y) scene points drawn as pairs}, or {}."""
        labels, grid = self.scene.slice(layer, plane, cursor)
        if labels is None:
            return {}
        axes = self.scene.space.axes(plane)
        index = grid.slice_index(axes, self.scene.space.to_display(lift_point(cursor)))

        def compute():
            outlines = label_contours(labels).items()
            return {value: join_segments(to_scene(grid, axes, segments)) for value, segments in outlines}

        return self.cached(("contours", layer, plane, index), compute)

    def magnitude_top_mm(self, slice_magnitude: np.ndarray | None = None) -> float:
        """Top of the magnitude colour scale: the setting, else the volume's 99.5th percentile, else the slice's maximum."""
        if self.settings.magnitude_max_mm > 0:
            return self.settings.magnitude_max_mm
        if self._magnitude_top is not None and self._magnitude_top > 0:
            return self._magnitude_top
        if slice_magnitude is not None:
            finite = slice_magnitude[np.isfinite(slice_magnitude)]
            return float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        return 0.0

    # ---- whole-volume figures -----------------------------------------------------------------
    @property
    def current(self) -> bool:
        """True when the volume figures belong to the transform the views show now (not to an older one)."""
        return self.summary is not None and self._summary_version == self.scene.version and not self.computing

    @property
    def computing(self) -> bool:
        return self._timer.isActive() or self._job.busy

    def _content_changed(self) -> None:
        self._before_labels = None
        self._table = None
        self.clear_cache()

    def _transform_changed(self, preview: bool) -> None:
        if preview:  # previews of a running registration: wait for the final transform
            if not self._told_stale:
                self._told_stale = True
                self.summaryChanged.emit()  # the panels say their figures belong to the last final transform
            return
        self._timer.start()
        self.summaryChanged.emit()

    def _start_volume(self) -> None:
        scene = self.scene
        if scene.fixed is None:
            self.summary, self.scores, self.warped_labels, self.error = None, None, None, ""
            self.summaryChanged.emit()
            return
        transform, fixed = scene.transform, scene.fixed
        fixed_labels, moving_labels = scene.fixed_labels, scene.moving_labels
        table = self.colour_table()
        before = self._before_labels[1] if self._before_labels is not None else None
        version = scene.version

        def work():
            summary = deformation_summary(transform, fixed.geometry)
            top = None
            if summary.field is not None:
                top = float(np.percentile(displacement_magnitude(summary.field.displacement), 99.5))
            scores = after = used_before = None
            if fixed_labels is not None and moving_labels is not None:
                on_fixed_grid = fixed_labels.geometry.same_as(fixed.geometry)
                scores, used_before, after = label_scores(
                    fixed_labels,
                    moving_labels,
                    transform,
                    summary.field if on_fixed_grid else None,
                    table=table,
                    before=before,
                )
            return version, summary, scores, used_before, after, top

        self._job.request(work)
        self.summaryChanged.emit()

    def _volume_done(self, result, error) -> None:
        self._told_stale = False
        if error:
            self.error = str(error)
            self.summary, self.scores = None, None
        else:
            version, summary, scores, before, after, self._magnitude_top = result
            self.error = ""
            self.summary, self.scores, self.warped_labels = summary, scores, after
            if before is not None:
                self._before_labels = (version, before)
            self._summary_version = version
            self.fold_index = -1
        self.summaryChanged.emit()

    def wait_for_volume(self, timeout_s: float = 30.0) -> bool:
        """Block (processing events) until the volume figures are ready; for scripts and tests."""
        import time

        from PySide6.QtWidgets import QApplication

        end = time.monotonic() + timeout_s
        while self.computing and time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.005)
        return not self.computing

    # ---- navigation ---------------------------------------------------------------------------
    def go_to_fold(self, step: int) -> bool:
        """Move the shared cursor to the next (+1) or previous (-1) folded region, largest first."""
        folds = self.summary.folds if self.summary is not None else []
        if not folds:
            return False
        self.fold_index = (self.fold_index + step) % len(folds) if self.fold_index >= 0 or step > 0 else len(folds) - 1
        self.grid.link.set_cursor(lift_point(folds[self.fold_index].centroid_mm))
        self.summaryChanged.emit()
        return True

    def go_to_label(self, value: int) -> bool:
        """Move the shared cursor inside a label (fixed labels, else the warped moving labels)."""
        for labels in (self.scene.fixed_labels, self.warped_labels, self.scene.moving_labels):
            if labels is None:
                continue
            point = label_centre_mm(labels, value)
            if point is not None:
                self.grid.link.set_cursor(lift_point(point))
                return True
        return False
