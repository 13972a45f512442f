"""Vectorised fixed -> moving mapping of arbitrary points, and its numerical inverse (numpy only).

``Transform.transform_points`` of a B-spline calls ITK once per point (about 1 us each): fine for
landmarks, too slow for the overlays that map every pixel of a slice several times (Jacobian, grid
lines, inverse points on the Moving view). Here every transform of a chain is evaluated on whole
arrays: affines as one matrix product, displacement fields with linear interpolation (the views'
``slice_warp`` rule: the field holds up to half a voxel beyond its outer voxel centres), B-splines by
gathering the 4^ndim coefficients around each point with the cubic weights (same support and same
"no displacement outside the domain" rule as ITK). Unknown transform types fall back to
``transform_points``, so the result is always right, only sometimes slower.
"""

from __future__ import annotations

import weakref

import numpy as np

from regviewer.core.slice_warp import control_grid, cubic_kernel, field_at
from regviewer.core.transforms import (
    AffineTransform,
    BSplineTransform,
    CompositeTransform,
    DisplacementFieldTransform,
    Transform,
)

_PADDED: weakref.WeakKeyDictionary[BSplineTransform, tuple[tuple[np.ndarray, ...], np.ndarray]] = (
    weakref.WeakKeyDictionary()
)


def _padded_coefficients(transform: BSplineTransform) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Coefficient arrays padded by one zero node at the end of every axis (flattened), and their shape.

    The padding lets every point inside the domain gather a full 4^ndim block without clipping
    (a point on the far edge touches node ``size`` with weight 0). Cached per transform object.
    """
    control = control_grid(transform)
    found = _PADDED.get(transform)
    if found is None:
        pad = [(0, 1)] * transform.ndim
        arrays = tuple(np.pad(array, pad).ravel() for array in control.arrays)
        found = (arrays, np.array(control.arrays[0].shape) + 1)
        _PADDED[transform] = found
    return found


def bspline_displacement(transform: BSplineTransform, points: np.ndarray) -> np.ndarray:
    """Displacement (N, ndim) of a B-spline at (N, ndim) points; zero outside its domain (like ITK)."""
    control = control_grid(transform)
    ndim = transform.ndim
    arrays, shape_zyx = _padded_coefficients(transform)
    index = (points - control.origin) @ np.linalg.inv(control.direction @ np.diag(control.spacing)).T
    mesh = control.size - 3  # the domain spans coefficient indices [1, mesh + 1]
    valid = np.all((index >= 1 - 1e-9) & (index <= mesh + 1 + 1e-9), axis=1)
    index = np.where(valid[:, None], index, 1.0)
    start = np.clip(np.floor(index).astype(np.int64) - 1, 0, control.size - 3)
    offsets = np.arange(4)
    # Per-axis weights (N, 4), combined into (N, 4^ndim) in (z, y, x) block order.
    weights = [cubic_kernel(index[:, axis, None] - (start[:, axis, None] + offsets)) for axis in range(ndim)]
    strides = np.cumprod(np.concatenate([[1], shape_zyx[::-1][:-1]]))  # flat stride of x, y[, z]
    base = start @ strides
    if ndim == 3:
        weight = (weights[2][:, :, None, None] * weights[1][:, None, :, None] * weights[0][:, None, None, :]).reshape(
            -1, 64
        )
        block = (
            offsets[:, None, None] * strides[2] + offsets[None, :, None] * strides[1] + offsets[None, None, :]
        ).ravel()
    else:
        weight = (weights[1][:, :, None] * weights[0][:, None, :]).reshape(-1, 16)
        block = (offsets[:, None] * strides[1] + offsets[None, :]).ravel()
    flat = base[:, None] + block[None, :]
    displacement = np.stack([np.einsum("nk,nk->n", array[flat], weight) for array in arrays], axis=-1)
    displacement[~valid] = 0.0
    return displacement


def map_points(transform: Transform | None, points_mm: np.ndarray) -> np.ndarray:
    """Fixed -> moving for an array of points (..., ndim), vectorised where the transform allows."""
    points = np.asarray(points_mm, dtype=np.float64)
    if transform is None:
        return points.copy()
    shape = points.shape
    flat = points.reshape(-1, shape[-1])
    chain = transform.transforms if isinstance(transform, CompositeTransform) else (transform,)
    for step in chain:
        if isinstance(step, AffineTransform):
            flat = flat @ step.matrix.T + step.translation
        elif isinstance(step, DisplacementFieldTransform):
            flat = flat + field_at(step, flat)
        elif isinstance(step, BSplineTransform):
            flat = flat + bspline_displacement(step, flat)
        else:
            flat = np.asarray(step.transform_points(flat), dtype=np.float64).reshape(flat.shape)
    return flat.reshape(shape)


def _linear_part(transform: Transform) -> np.ndarray:
    """The product of the affine matrices of a chain: a good constant approximation of dT/dx."""
    chain = transform.transforms if isinstance(transform, CompositeTransform) else (transform,)
    matrix = np.eye(transform.ndim)
    for step in chain:
        if isinstance(step, AffineTransform):
            matrix = step.matrix @ matrix
    return matrix


def linear_guess(transform: Transform, targets_mm: np.ndarray) -> np.ndarray:
    """A^-1 (y - T(0)): the inverse of the chain's linear part, the starting point of ``inverse_points``."""
    solve = np.linalg.inv(_linear_part(transform))
    shift = map_points(transform, np.zeros((1, transform.ndim)))[0]
    return (np.asarray(targets_mm, dtype=np.float64) - shift) @ solve.T


def inverse_points(
    transform: Transform | None, targets_mm: np.ndarray, iterations: int = 30, tolerance_mm: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Moving -> fixed for an array of points: solve T(x) = y for every y.

    A quasi-Newton iteration ``x <- x - A^-1 (T(x) - y)`` with A the linear part of the chain:
    one vectorised evaluation of T per step, and it converges whenever the deformable part is a
    contraction after removing A (smooth, invertible registrations). Points that do not converge
    (outside the field's reach, folded regions) are flagged.

    Returns:
        (points (..., ndim), converged (...) bool).
    """
    targets = np.asarray(targets_mm, dtype=np.float64)
    if transform is None:
        return targets.copy(), np.ones(targets.shape[:-1], dtype=bool)
    shape = targets.shape
    flat_targets = targets.reshape(-1, shape[-1])
    solve = np.linalg.inv(_linear_part(transform))
    estimate = linear_guess(transform, flat_targets)
    residual = map_points(transform, estimate) - flat_targets
    active = np.flatnonzero(np.max(np.abs(residual), axis=1) >= tolerance_mm)
    for _ in range(iterations):  # only the points not converged yet are moved and evaluated again
        if active.size == 0:
            break
        estimate[active] -= residual[active] @ solve.T
        residual[active] = map_points(transform, estimate[active]) - flat_targets[active]
        active = active[np.max(np.abs(residual[active]), axis=1) >= tolerance_mm]
    converged = np.all(np.abs(residual) < max(tolerance_mm * 10, 0.05), axis=1)
    return estimate.reshape(shape), converged.reshape(shape[:-1])
