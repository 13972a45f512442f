"""Transforms fitted to paired landmarks, and how well a transform fits them (Qt-free).

Every fit returns a FIXED -> MOVING transform (``T(fixed_i) ~ moving_i``), in LPS mm, 2D or 3D:

- "rigid" and "similarity": least squares rotation (+ isotropic scale) + translation, closed form
  (Umeyama 1991: SVD of the cross-covariance; reflections excluded);
- "affine": linear least squares on homogeneous coordinates;
- "tps": thin-plate spline (core/tps.py), interpolating when ``regularisation`` is 0.

Errors follow CONVENTIONS.md and ``core.evaluation`` (the numbers of metrics.json): the error of a
pair is the distance IN FIXED SPACE between the fixed point and the moving point carried into fixed
space by the transform's inverse (``inverse_transform_points``). Leave-one-out error of a pair: fit
without that pair, then measure it; for an interpolating TPS it is the only honest residual (the
fitted residuals are all zero).
"""

from __future__ import annotations

import numpy as np

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry
from regviewer.core.tps import ThinPlateSplineTransform
from regviewer.core.transforms import AffineTransform, Transform

FIT_KINDS = ("rigid", "similarity", "affine", "tps")


class LandmarkFitError(InputMismatchError):
    """Too few or degenerate landmark pairs for the requested fit."""


def minimum_pairs(kind: str, ndim: int) -> int:
    """Fewest complete pairs a fit needs (rigid / similarity: 2 in 2D, 3 in 3D; affine and TPS: ndim + 1)."""
    if kind not in FIT_KINDS:
        raise ValueError(f"unknown landmark fit {kind!r}; choose from {', '.join(FIT_KINDS)}")
    return ndim if kind in ("rigid", "similarity") else ndim + 1


def _check(kind: str, fixed: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fixed = np.atleast_2d(np.asarray(fixed, dtype=np.float64))
    moving = np.atleast_2d(np.asarray(moving, dtype=np.float64))
    if fixed.shape != moving.shape or fixed.shape[-1] not in (2, 3):
        raise LandmarkFitError(
            f"landmark pairs must be two (N, 2|3) arrays of the same shape, got {fixed.shape} and {moving.shape}"
        )
    if not (np.all(np.isfinite(fixed)) and np.all(np.isfinite(moving))):
        raise LandmarkFitError("landmark coordinates contain NaN or Inf")
    ndim = fixed.shape[1]
    needed = minimum_pairs(kind, ndim)
    if len(fixed) < needed:
        raise LandmarkFitError(
            f"a {kind} landmark fit in {ndim}D needs at least {needed} complete active pairs, got {len(fixed)}"
        )
    spread = np.linalg.svd(fixed - fixed.mean(axis=0), compute_uv=False)
    rank = int(np.sum(spread > 1e-6 * max(spread[0], 1e-12))) if spread[0] > 1e-9 else 0
    required_rank = ndim - 1 if kind in ("rigid", "similarity") else ndim
    if rank < required_rank:
        shape = {0: "all at one place", 1: "on one line", 2: "in one plane"}[rank]
        raise LandmarkFitError(
            f"the fixed landmarks are {shape}: a {kind} fit in {ndim}D is undetermined; spread them out"
        )
    return fixed, moving


def fit_similarity(fixed: np.ndarray, moving: np.ndarray, scale: bool = True) -> AffineTransform:
    """Least-squares ``s R x + t`` mapping fixed to moving (``scale=False``: rigid, s = 1)."""
    fixed, moving = _check("similarity" if scale else "rigid", fixed, moving)
    fixed_mean, moving_mean = fixed.mean(axis=0), moving.mean(axis=0)
    f, m = fixed - fixed_mean, moving - moving_mean
    u, singular, vt = np.linalg.svd(m.T @ f / len(fixed))
    signs = np.ones(fixed.shape[1])
    signs[-1] = np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0
    rotation = u @ np.diag(signs) @ vt
    factor = float(np.sum(singular * signs) / np.mean(np.sum(f**2, axis=1))) if scale else 1.0
    matrix = factor * rotation
    return AffineTransform(matrix, moving_mean - matrix @ fixed_mean)


def fit_rigid(fixed: np.ndarray, moving: np.ndarray) -> AffineTransform:
    """Least-squares rotation + translation mapping fixed to moving."""
    return fit_similarity(fixed, moving, scale=False)


def fit_affine(fixed: np.ndarray, moving: np.ndarray) -> AffineTransform:
    """Least-squares affine mapping fixed to moving."""
    fixed, moving = _check("affine", fixed, moving)
    homogeneous = np.hstack([fixed, np.ones((len(fixed), 1))])
    solution, *_ = np.linalg.lstsq(homogeneous, moving, rcond=None)
    ndim = fixed.shape[1]
    return AffineTransform(solution[:ndim].T, solution[ndim])


def fit_tps(
    fixed: np.ndarray, moving: np.ndarray, regularisation: float = 0.0, domain: Geometry | None = None
) -> ThinPlateSplineTransform:
    """Thin-plate spline through the pairs (see core/tps.py)."""
    fixed, moving = _check("tps", fixed, moving)
    return ThinPlateSplineTransform(fixed, moving, regularisation, domain)


def fit(
    kind: str, fixed: np.ndarray, moving: np.ndarray, regularisation: float = 0.0, domain: Geometry | None = None
) -> Transform:
    """Fit one of FIT_KINDS (fixed -> moving)."""
    if kind == "rigid":
        return fit_rigid(fixed, moving)
    if kind == "similarity":
        return fit_similarity(fixed, moving)
    if kind == "affine":
        return fit_affine(fixed, moving)
    if kind == "tps":
        return fit_tps(fixed, moving, regularisation, domain)
    raise ValueError(f"unknown landmark fit {kind!r}; choose from {', '.join(FIT_KINDS)}")


def pair_errors(transform: Transform | None, fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Error (mm) of each pair in fixed space: ``|fixed_i - T^-1(moving_i)|`` (None: identity)."""
    fixed = np.atleast_2d(np.asarray(fixed, dtype=np.float64))
    moving = np.atleast_2d(np.asarray(moving, dtype=np.float64))
    if len(fixed) == 0:
        return np.zeros(0)
    carried = moving if transform is None else transform.inverse_transform_points(moving)
    return np.linalg.norm(fixed - np.atleast_2d(carried), axis=1)


def leave_one_out(kind: str, fixed: np.ndarray, moving: np.ndarray, regularisation: float = 0.0) -> np.ndarray:
    """Error (mm) of each pair under the fit of all the other pairs; NaN where the others are too few."""
    fixed = np.atleast_2d(np.asarray(fixed, dtype=np.float64))
    moving = np.atleast_2d(np.asarray(moving, dtype=np.float64))
    errors = np.full(len(fixed), np.nan)
    for index in range(len(fixed)):
        keep = np.arange(len(fixed)) != index
        try:
            transform = fit(kind, fixed[keep], moving[keep], regularisation)
        except InputMismatchError:
            continue
        errors[index] = pair_errors(transform, fixed[index : index + 1], moving[index : index + 1])[0]
    return errors
