"""Coordinate frames for the torch engines: normalised grid coordinates <-> LPS mm.

Every grid is sampled in normalised coordinates ``p`` in -1..1 per array axis (voxel centres,
``align_corners=True``), listed in array-axis order (z, y, x). A grid of any resolution covering an
image shares the image's normalised coordinates, so a multi-resolution pyramid needs no bookkeeping.
These helpers build the homogeneous matrices that go from ``p`` to mm and back, and the level
geometries that previews are sampled on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from regviewer.core.image import Geometry


def normalised_to_mm(geometry: Geometry) -> np.ndarray:
    """Homogeneous ``(ndim+1)^2`` matrix: normalised coordinates (array-axis order) -> LPS mm (x, y, z)."""
    ndim = geometry.ndim
    shape = np.array(geometry.shape, dtype=np.float64)
    half_extent = np.where(shape > 1, (shape - 1) / 2.0, 0.0)
    to_index = np.eye(ndim + 1)  # p (zyx) -> index (zyx): i = (p + 1) * (n - 1) / 2
    to_index[:ndim, :ndim] = np.diag(half_extent)
    to_index[:ndim, ndim] = half_extent
    flip = np.eye(ndim + 1)  # index (zyx) -> index (xyz)
    flip[:ndim, :ndim] = np.eye(ndim)[::-1]
    return geometry.index_to_physical_matrix @ flip @ to_index


def mm_to_normalised(geometry: Geometry) -> np.ndarray:
    """Inverse of ``normalised_to_mm`` (grids with one voxel along an axis map that axis to 0)."""
    return np.linalg.pinv(normalised_to_mm(geometry))


def points_to_normalised(points_mm: np.ndarray, geometry: Geometry) -> np.ndarray:
    """(N, ndim) LPS mm points -> (N, ndim) normalised coordinates of ``geometry`` (array-axis order)."""
    points = np.asarray(points_mm, dtype=np.float64)
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    return (homogeneous @ mm_to_normalised(geometry).T)[:, : geometry.ndim]


def level_geometry(geometry: Geometry, shape: Sequence[int]) -> Geometry:
    """The grid of ``shape`` covering ``geometry``'s voxel centres corner to corner (same origin)."""
    shape = tuple(int(n) for n in shape)
    full = np.array(geometry.shape, dtype=np.float64)
    new = np.array(shape, dtype=np.float64)
    factor_zyx = np.where(new > 1, (full - 1) / np.maximum(new - 1, 1), 1.0)
    return Geometry(shape, geometry.spacing * factor_zyx[::-1], geometry.origin, geometry.direction)


def voxel_spacing_zyx(geometry: Geometry) -> np.ndarray:
    """Spacing in mm along the array axes (z, y, x)."""
    return np.asarray(geometry.spacing, dtype=np.float64)[::-1].copy()


def mm_to_normalised_scale(geometry: Geometry) -> np.ndarray:
    """Per-array-axis factor from mm along an index axis to normalised units: ``2 / ((n - 1) h)``."""
    shape = np.array(geometry.shape, dtype=np.float64)
    return np.where(shape > 1, 2.0 / (np.maximum(shape - 1, 1) * voxel_spacing_zyx(geometry)), 0.0)
