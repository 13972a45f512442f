"""Analysis of a dense displacement field: Jacobian determinant, folding, magnitude.

Field convention (../shared/docs/CONVENTIONS.md): ``displacement`` has shape
``geometry.shape + (ndim,)``; its last axis holds the vector components in ITK order (x, y[, z]),
LPS mm, sampled at the voxel centres of ``geometry`` (the FIXED grid). The transform maps a fixed
point p to the moving point p + u(p) (fixed -> moving, the resampling direction).

The Jacobian is taken with respect to PHYSICAL coordinates, so it is right for anisotropic
spacing and oblique direction matrices: index derivatives from ``np.gradient`` (central
differences inside, one-sided at the borders; 0 along an axis of length 1) are turned into
physical ones with ``inv(direction @ diag(spacing))``. det(I + du/dp) > 1 means local expansion
of the fixed -> moving map, < 1 compression, <= 0 folding (the map is not invertible there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry

_SLAB = 16  # slices per chunk along array axis 0, to bound the memory of the 9 Jacobian entries


@dataclass(frozen=True)
class FoldRegion:
    """One connected region of folded voxels (det <= 0), for listing and "next fold" navigation.

    Attributes:
        voxel_count: number of voxels in the region.
        centroid_mm: centre of the region's voxels, LPS mm, (x, y[, z]).
        centroid_index_xyz: the same centre as a continuous index, (x, y[, z]) order like ITK.
        bbox_min_index_xyz: smallest voxel index of the region, (x, y[, z]), inclusive.
        bbox_max_index_xyz: largest voxel index of the region, (x, y[, z]), inclusive.
        min_jacobian: the most negative determinant inside the region.
    """

    voxel_count: int
    centroid_mm: tuple[float, ...]
    centroid_index_xyz: tuple[float, ...]
    bbox_min_index_xyz: tuple[int, ...]
    bbox_max_index_xyz: tuple[int, ...]
    min_jacobian: float

    @property
    def array_slices(self) -> tuple[slice, ...]:
        """The bounding box as numpy slices in array order (z, y[, x]), to crop a det map."""
        return tuple(slice(lo, hi + 1) for lo, hi in zip(self.bbox_min_index_xyz[::-1], self.bbox_max_index_xyz[::-1]))


def _checked_field(displacement: np.ndarray, geometry: Geometry) -> np.ndarray:
    field = np.asarray(displacement)
    expected = tuple(geometry.shape) + (geometry.ndim,)
    if field.shape != expected:
        raise InputMismatchError(
            f"displacement field has shape {field.shape}, expected {expected} "
            f"(grid shape + one (x, y[, z]) vector per voxel)"
        )
    return field


def _index_gradients(component: np.ndarray) -> list[np.ndarray]:
    """d component / d index along the ITK index axes (x, y[, z]); zero along length-1 axes."""
    ndim = component.ndim
    gradients = []
    for index_axis in range(ndim):
        array_axis = ndim - 1 - index_axis
        if component.shape[array_axis] < 2:
            gradients.append(np.zeros_like(component))
        else:
            gradients.append(np.gradient(component, axis=array_axis))
    return gradients


def _determinant(jac: list[list[np.ndarray]]) -> np.ndarray:
    if len(jac) == 2:
        return jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0]
    (a, b, c), (d, e, f), (g, h, i) = jac
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def _determinant_of_chunk(chunk: np.ndarray, index_per_mm: np.ndarray) -> np.ndarray:
    """det(I + du/dp) of a block of the field; ``index_per_mm[k, j]`` = d index_k / d p_j."""
    ndim = chunk.shape[-1]
    jac: list[list[np.ndarray]] = []
    for component in range(ndim):
        gradients = _index_gradients(chunk[..., component].astype(np.float64))
        row = []
        for axis in range(ndim):
            entry = sum(gradients[k] * index_per_mm[k, axis] for k in range(ndim))
            row.append(entry + 1.0 if axis == component else entry)
        jac.append(row)
    return _determinant(jac)


def jacobian_determinant(displacement: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Determinant of the Jacobian of p -> p + u(p) at every voxel centre.

    Args:
        displacement: field of shape ``geometry.shape + (ndim,)``, components (x, y[, z]) in mm.
        geometry: the grid the field is sampled on (spacing, origin, direction).

    Returns:
        float64 array of shape ``geometry.shape``: 1 = volume kept, <= 0 = folding.
    """
    field = _checked_field(displacement, geometry)
    index_per_mm = np.linalg.inv(geometry.direction @ np.diag(geometry.spacing))
    result = np.empty(geometry.shape, dtype=np.float64)
    n_slices = geometry.shape[0]
    for start in range(0, n_slices, _SLAB):
        stop = min(start + _SLAB, n_slices)
        low, high = max(start - 1, 0), min(stop + 1, n_slices)  # one-slice halo: same differences as a whole-array pass
        det = _determinant_of_chunk(field[low:high], index_per_mm)
        result[start:stop] = det[start - low : stop - low]
    return result


def jacobian_stats(det: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Summary of a Jacobian determinant map (inside ``mask`` when given).

    Returns:
        ``{"jacobian_min", "jacobian_max", "folded_pct", "folded_count", "std_log_jacobian"}``:
        folded = det <= 0 (``folded_count`` is an int, ``folded_pct`` in percent of the voxels);
        ``std_log_jacobian`` is the std of log(det) over voxels with det > 0 (NaN if none).
    """
    det = np.asarray(det)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != det.shape:
            raise InputMismatchError(f"mask {mask.shape} does not match the Jacobian map {det.shape}")
        values = det[mask].astype(np.float64)
    else:
        values = det.astype(np.float64).ravel()
    if values.size == 0:
        raise InputMismatchError("the mask selects no voxels")
    folded_count = int(np.count_nonzero(values <= 0))
    positive = values[values > 0]
    return {
        "jacobian_min": float(values.min()),
        "jacobian_max": float(values.max()),
        "folded_pct": 100.0 * folded_count / values.size,
        "folded_count": folded_count,
        "std_log_jacobian": float(np.std(np.log(positive))) if positive.size else math.nan,
    }


def fold_regions(det: np.ndarray, geometry: Geometry, mask: np.ndarray | None = None) -> list[FoldRegion]:
    """Connected regions of folded voxels (det <= 0), largest first.

    Voxels touching by a face, edge or corner belong to one region (full connectivity). Ties in
    size are ordered by the most negative determinant first.

    Args:
        det: Jacobian determinant map on ``geometry`` (see ``jacobian_determinant``).
        geometry: the grid of ``det``, used to place centroids in LPS mm.
        mask: optional bool array; folds outside it are ignored.

    Returns:
        One ``FoldRegion`` per connected component; empty when nothing folds.
    """
    det = np.asarray(det)
    if det.shape != tuple(geometry.shape):
        raise InputMismatchError(f"Jacobian map {det.shape} does not match the grid {geometry.shape}")
    folded = det <= 0
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != det.shape:
            raise InputMismatchError(f"mask {mask.shape} does not match the Jacobian map {det.shape}")
        folded &= mask
    structure = ndimage.generate_binary_structure(det.ndim, det.ndim)
    labelled, count = ndimage.label(folded, structure=structure)
    if count == 0:
        return []
    ids = np.arange(1, count + 1)
    sizes = np.bincount(labelled.ravel(), minlength=count + 1)[1:]
    boxes = ndimage.find_objects(labelled)
    centroids = np.asarray(ndimage.center_of_mass(folded, labelled, ids), dtype=np.float64).reshape(count, det.ndim)
    minima = np.asarray(ndimage.minimum(det, labelled, ids), dtype=np.float64).reshape(count)
    centroids_xyz = centroids[:, ::-1]
    centroids_mm = geometry.index_to_physical(centroids_xyz)
    regions = [
        FoldRegion(
            voxel_count=int(sizes[n]),
            centroid_mm=tuple(float(v) for v in centroids_mm[n]),
            centroid_index_xyz=tuple(float(v) for v in centroids_xyz[n]),
            bbox_min_index_xyz=tuple(int(s.start) for s in boxes[n][::-1]),
            bbox_max_index_xyz=tuple(int(s.stop) - 1 for s in boxes[n][::-1]),
            min_jacobian=float(minima[n]),
        )
        for n in range(count)
    ]
    regions.sort(key=lambda region: (-region.voxel_count, region.min_jacobian))
    return regions


def displacement_magnitude(displacement: np.ndarray) -> np.ndarray:
    """Length of every displacement vector in mm; shape = the field's grid shape."""
    field = np.asarray(displacement)
    if field.ndim < 3 or field.shape[-1] not in (2, 3) or field.shape[-1] != field.ndim - 1:
        raise InputMismatchError(f"displacement field has shape {field.shape}: expected grid shape + (ndim,)")
    squared = np.zeros(field.shape[:-1], dtype=np.float64)
    for component in range(field.shape[-1]):
        squared += np.square(field[..., component], dtype=np.float64)
    return np.sqrt(squared)
