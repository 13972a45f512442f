"""Deformation overlays of one displayed slice: mapped points, Jacobian, grid lines, arrows (Qt-free).

Everything here is computed for the slice a view shows, from the same fixed -> moving transform
the views warp with, so that an overlay costs a few milliseconds per slice however large the
volume is. Arrays come back oriented like ``DisplayGrid.take`` ([row, col]) and positions in
scene coordinates (display mm), ready to draw.

Jacobian of a slice: the FULL 3D derivative of T, not a 2D one. T is evaluated at the slice's
voxel centres and at the two neighbouring slices along the normal; derivatives along the grid's
index axes are central differences with a one-voxel step (one-sided at the grid's border), turned
into physical derivatives with ``inv(direction @ diag(spacing))``. This is exactly the scheme of
``deformation.jacobian_determinant`` on the whole volume, so the slice shows the same numbers as
the volume statistics and the fold list (tested).

Grid lines (``grid_lines``) are iso-lines of a coordinate map, which draws a deformed regular grid
without inverting anything where it is not needed:

- Fixed / Warped views: the lines where T(x) crosses a regular grid of MOVING space (the lines of
  a grid painted on the moving image, as they appear in the warped image: the warped image's
  texture follows them). A translation T(x) = x + t shifts them by -t.
- Moving view: the lines where T^-1(y) crosses a regular grid of FIXED space, i.e. T applied to the
  fixed grid: each cell on the Moving view is where the matching fixed cell came from. A scaling
  T(x) = s x draws lines s * spacing apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from skimage.measure import find_contours

from regviewer.core.fast_points import map_points
from regviewer.core.image import Geometry
from regviewer.core.planes import DisplayGrid, PlaneAxes
from regviewer.core.slice_warp import map_slice_points
from regviewer.core.transforms import AffineTransform, Transform, simplify


def _drop_z(geometry: Geometry) -> Geometry:
    return Geometry(geometry.shape[1:], geometry.spacing[:2], geometry.origin[:2], geometry.direction[:2, :2])


def orient_vectors(grid: DisplayGrid, axes: PlaneAxes, array: np.ndarray) -> np.ndarray:
    """A (z, y, x, k) one-slice array as (rows, cols, k), oriented like ``DisplayGrid.orient``."""
    plane = np.take(array, 0, axis=2 - axes.normal)
    return plane if axes.row > axes.col else plane.transpose(1, 0, 2)


def map_slice(transform: Transform | None, geometry: Geometry, ndim: int) -> np.ndarray:
    """T at the voxel centres of a one-slice 3D grid, shape (z, y, x, 3); 2D transforms keep z."""
    if ndim == 2:
        flat = _drop_z(geometry)
        moved = map_slice_points(transform, flat)
        if moved is None:
            moved = map_points(transform, flat.voxel_centres_mm())
        z = np.full(moved.shape[:-1] + (1,), geometry.origin[2])
        return np.concatenate([moved, z], axis=-1)[np.newaxis]
    moved = map_slice_points(transform, geometry)
    return moved if moved is not None else map_points(transform, geometry.voxel_centres_mm())


def slice_points(grid: DisplayGrid, axes: PlaneAxes, index: int) -> np.ndarray:
    """Physical points (rows, cols, 3) of the voxel centres of a displayed slice."""
    return orient_vectors(grid, axes, grid.slice_geometry(axes, index).voxel_centres_mm())


def mapped_slice(
    transform: Transform | None, grid: DisplayGrid, axes: PlaneAxes, index: int, ndim: int = 3
) -> np.ndarray:
    """Moving-space points T(x) (rows, cols, 3) of every voxel centre x of a displayed slice."""
    return orient_vectors(grid, axes, map_slice(transform, grid.slice_geometry(axes, index), ndim))


def slice_jacobian(
    transform: Transform | None,
    grid: DisplayGrid,
    axes: PlaneAxes,
    index: int,
    ndim: int = 3,
    mapped_at: Callable[[int], np.ndarray] | None = None,
) -> np.ndarray:
    """det(dT/dx) at the voxel centres of a displayed slice, (rows, cols); see the module docstring.

    ``mapped_at(k)``: T on slice k in (z, y, x, 3) form, for callers that cache it (stepping through
    slices then costs one new evaluation of T per step instead of three).
    """
    geometry = grid.slice_geometry(axes, index)
    shape_2d = orient_vectors(grid, axes, np.zeros(geometry.shape + (1,)))[..., 0].shape
    if transform is None:
        return np.ones(shape_2d)
    linear = simplify(transform)
    if isinstance(linear, AffineTransform):
        return np.full(shape_2d, float(np.linalg.det(linear.matrix)))
    if mapped_at is None:

        def mapped_at(k: int) -> np.ndarray:
            return map_slice(transform, grid.slice_geometry(axes, k), ndim)

    here = mapped_at(index)
    derivatives = []  # d T / d index_k, (z, y, x, 3) each, for k = x, y[, z]
    for k in range(ndim):
        numpy_axis = 2 - k
        if k != axes.normal:
            size = here.shape[numpy_axis]
            derivatives.append(np.gradient(here, axis=numpy_axis) if size > 1 else np.zeros_like(here))
            continue
        count = grid.geometry.size[k]
        neighbours = []
        for step in (-1, 1):
            if 0 <= index + step < count:
                neighbours.append(mapped_at(index + step))
            else:
                neighbours.append(here)
        span = (index + 1 < count) + (index - 1 >= 0)
        derivatives.append((neighbours[1] - neighbours[0]) / span if span else np.zeros_like(here))
    step_matrix = grid.geometry.direction[:ndim, :ndim] @ np.diag(grid.geometry.spacing[:ndim])
    index_per_mm = np.linalg.inv(step_matrix)
    d_index = np.stack([d[..., :ndim] for d in derivatives], axis=-1)  # [..., component, k]
    jacobian = d_index @ index_per_mm
    return orient_vectors(grid, axes, np.linalg.det(jacobian)[..., np.newaxis])[..., 0]


# ---- grid lines, contours, arrows ---------------------------------------------------------------
def _crossings(values: np.ndarray, spacing_mm: float) -> np.ndarray | None:
    """Where each row of ``values`` crosses the levels k * spacing: (n, 3) [level, row, col], or None.

    None when a level is crossed more than once in a row or two levels between neighbouring pixels
    (folds, lines closer than a pixel): the caller then falls back to marching squares.
    """
    step = np.floor(values / spacing_mm)
    left, right = step[:, :-1], step[:, 1:]
    finite = np.isfinite(left) & np.isfinite(right)
    change = finite & (left != right)
    rows, cols = np.nonzero(change)
    if rows.size == 0:
        return np.zeros((0, 3))
    low, high = left[rows, cols], right[rows, cols]
    if np.any(np.abs(high - low) > 1):
        return None
    level = np.maximum(low, high)
    v0, v1 = values[rows, cols], values[rows, cols + 1]
    position = cols + (level * spacing_mm - v0) / (v1 - v0)
    order = np.lexsort((rows, level))
    found = np.stack([level[order], rows[order], position[order]], axis=-1)
    same = (found[1:, 0] == found[:-1, 0]) & (found[1:, 1] == found[:-1, 1])
    return None if np.any(same) else found


def _rowwise_isolines(values: np.ndarray, spacing_mm: float) -> list[np.ndarray] | None:
    """Iso-lines of a map whose lines cross every row at most once, fully vectorised (see ``_crossings``)."""
    found = _crossings(values, spacing_mm)
    if found is None:
        return None
    if found.shape[0] == 0:
        return []
    breaks = np.nonzero((np.diff(found[:, 0]) != 0) | (np.diff(found[:, 1]) != 1))[0] + 1
    lines = np.split(found[:, 1:], breaks)
    return [line for line in lines if len(line) > 1]


def isolines(
    values: np.ndarray, spacing_mm: float, valid: np.ndarray | None = None, across_rows: bool = True
) -> list[np.ndarray]:
    """Polylines (n, 2) in (row, col) pixel coordinates where ``values`` crosses k * spacing_mm.

    Grid lines of smooth maps cross each row (``across_rows``; else each column) once: they are
    found for all levels at once with numpy. Anything else (folds) goes through marching squares.
    """
    finite = np.isfinite(values) if valid is None else (valid & np.isfinite(values))
    if not finite.any() or min(values.shape) < 2 or spacing_mm <= 0:
        return []
    masked = np.where(finite, values, np.nan)
    fast = _rowwise_isolines(masked if across_rows else masked.T, spacing_mm)
    if fast is not None:
        return fast if across_rows else [line[:, ::-1] for line in fast]
    low, high = float(values[finite].min()), float(values[finite].max())
    levels = np.arange(np.ceil(low / spacing_mm), np.floor(high / spacing_mm) + 1) * spacing_mm
    filled = np.where(finite, values, low)
    mask = None if finite.all() else finite
    lines: list[np.ndarray] = []
    for level in levels[:400]:
        lines.extend(find_contours(filled, float(level), mask=mask))
    return lines


def grid_lines(
    coordinates_q: np.ndarray, axes: PlaneAxes, spacing_mm: float, valid: np.ndarray | None = None
) -> list[np.ndarray]:
    """A deformed regular grid: iso-lines of the in-plane display coordinates of a point map.

    Args:
        coordinates_q: (rows, cols, 3) display coordinates of the mapped points (T(x) for fixed
            views, T^-1(y) for the Moving view; see the module docstring).
        axes: the plane drawn.
        spacing_mm: distance between grid lines in the space the points are mapped to.
        valid: optional (rows, cols) mask of trustworthy points (e.g. inverse converged).
    """
    # Lines of constant horizontal coordinate run top to bottom (cross every row once), and the others across.
    return isolines(coordinates_q[..., axes.col], spacing_mm, valid, across_rows=True) + isolines(
        coordinates_q[..., axes.row], spacing_mm, valid, across_rows=False
    )


def to_scene(grid: DisplayGrid, axes: PlaneAxes, rows_cols: np.ndarray) -> np.ndarray:
    """(row, col) pixel coordinates of a slice -> scene (x, y) in display mm."""
    rows_cols = np.asarray(rows_cols, dtype=np.float64)
    x = grid.offset[axes.col] + rows_cols[..., 1] * grid.spacing[axes.col]
    y = grid.offset[axes.row] + rows_cols[..., 0] * grid.spacing[axes.row]
    return np.stack([x, y], axis=-1)


def join_polylines(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Polylines (n, 2) as one (x, y) pair separated by NaN, for one curve item (connect="finite")."""
    if not lines:
        return np.zeros(0), np.zeros(0)
    pieces = []
    for line in lines:
        pieces.append(line)
        pieces.append(np.full((1, 2), np.nan))
    joined = np.concatenate(pieces[:-1])
    return joined[:, 0], joined[:, 1]


def label_contours(labels: np.ndarray, values=None) -> dict[int, np.ndarray]:
    """Outlines of every label of a 2D label slice along pixel edges: {label: (n, 2, 2) segments}.

    Each segment is ((row, col), (row, col)) of one pixel edge between the label and anything else
    (another label, background, or the slice border), so outlines lie exactly on the label's border,
    half a pixel from its pixel centres, like the voxels the label is made of. Computed for all
    labels at once with numpy (no per-label tracing); draw them as pairs.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0:
        return {}
    padded = np.pad(labels.astype(np.int64, copy=False), 1)
    owners, segments = [], []
    # Edges between horizontally neighbouring pixels: padded columns j | j + 1 -> x = j - 0.5 (slice columns).
    rows, cols = np.nonzero(padded[:, :-1] != padded[:, 1:])
    x = cols - 0.5
    vertical = np.stack([np.stack([rows - 1.5, x], -1), np.stack([rows - 0.5, x], -1)], axis=1)
    # Edges between vertically neighbouring pixels: padded rows i | i + 1 -> y = i - 0.5.
    rows2, cols2 = np.nonzero(padded[:-1, :] != padded[1:, :])
    y = rows2 - 0.5
    horizontal = np.stack([np.stack([y, cols2 - 1.5], -1), np.stack([y, cols2 - 0.5], -1)], axis=1)
    for side_a, side_b, edges in (
        (padded[rows, cols], padded[rows, cols + 1], vertical),
        (padded[rows2, cols2], padded[rows2 + 1, cols2], horizontal),
    ):
        for side in (side_a, side_b):
            keep = side != 0
            owners.append(side[keep])
            segments.append(edges[keep])
    owner = np.concatenate(owners)
    if owner.size == 0:
        return {}
    segment = np.concatenate(segments)
    if values is not None:
        keep = np.isin(owner, np.asarray(values, dtype=np.int64))
        owner, segment = owner[keep], segment[keep]
    order = np.argsort(owner, kind="stable")
    owner, segment = owner[order], segment[order]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    return {int(owner[start]): part for start, part in zip(starts, np.split(segment, starts[1:]))}


def join_segments(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2, 2) segments as (x, y) arrays of 2n points for one curve item drawn with connect="pairs"."""
    flat = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


TRUE_POSITIVE, FALSE_POSITIVE, FALSE_NEGATIVE = 1, 2, 3


def label_agreement(fixed_labels: np.ndarray, warped_labels: np.ndarray, label: int | None = None) -> np.ndarray:
    """Per-pixel agreement class of fixed labels vs warped moving labels (uint8: 0 none, 1 TP, 2 FP, 3 FN).

    One label: TP where both maps hold it, FP where only the warped map does, FN where only the fixed
    map does. All labels (``label=None``): TP where both hold the same non-zero label, FN where the
    fixed map holds a label the warped map does not (another label or background), FP where only
    the warped map holds a label (over fixed background).
    """
    fixed = np.asarray(fixed_labels)
    warped = np.asarray(warped_labels)
    if fixed.shape != warped.shape:
        raise ValueError(f"label slices differ in shape: {fixed.shape} vs {warped.shape}")
    classes = np.zeros(fixed.shape, dtype=np.uint8)
    if label is None:
        in_fixed, in_warped = fixed != 0, warped != 0
        classes[in_fixed & (warped == fixed)] = TRUE_POSITIVE
        classes[in_fixed & (warped != fixed)] = FALSE_NEGATIVE
        classes[~in_fixed & in_warped] = FALSE_POSITIVE
    else:
        in_fixed, in_warped = fixed == label, warped == label
        classes[in_fixed & in_warped] = TRUE_POSITIVE
        classes[in_fixed & ~in_warped] = FALSE_NEGATIVE
        classes[~in_fixed & in_warped] = FALSE_POSITIVE
    return classes


def arrows(
    grid: DisplayGrid, axes: PlaneAxes, displacement_q: np.ndarray, every_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """A decimated quiver: (n, 2) scene start points and (n, 2) in-plane displacements (display mm).

    ``displacement_q``: (rows, cols, 3) displacement T(x) - x in display coordinates; one arrow every
    ``every_px`` pixels, placed on the pixel centres, pointing to where the fixed point is found in
    the moving image (fixed -> moving).
    """
    every = max(int(every_px), 1)
    rows, cols = displacement_q.shape[:2]
    r, c = np.mgrid[every // 2 : rows : every, every // 2 : cols : every]
    starts = to_scene(grid, axes, np.stack([r.ravel(), c.ravel()], axis=-1))
    vectors = displacement_q[r.ravel(), c.ravel()][:, [axes.col, axes.row]]
    return starts, vectors
