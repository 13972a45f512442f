"""Thin-plate spline transform: a smooth fixed -> moving map through paired landmarks.

``T(x) = A x + b + sum_i w_i U(|x - c_i|)`` with control points ``c_i`` = the FIXED landmarks, so
that ``T(fixed_i) = moving_i`` (exactly when ``regularisation`` is 0, approximately otherwise), like
every transform of RegViewer (see transforms.py). The kernel is ITK's: ``U(r) = r^2 log r`` in 2D
and ``U(r) = r`` in 3D (the biharmonic kernels that minimise the bending energy in each dimension).

Points are centred and scaled by the control points' spread before solving, which keeps the linear
system well conditioned for coordinates of hundreds of mm. ``regularisation`` (lambda, >= 0) is
added to the kernel matrix's diagonal in those normalised units: 0 interpolates, larger values
trade landmark residuals for smoothness (towards the least-squares affine).

Evaluation is pure numpy (``vectorised = True``), so the interactive views warp a slice through a
TPS without ITK (see slice_warp.py). ITK has no TPS that SimpleITK can write, so ``to_sitk``
gives an equivalent composite: the affine part plus the residual displacement field sampled on
``domain`` (the fixed grid for registration results); outside that grid the affine part still
applies.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry
from regviewer.core.transforms import AffineTransform, DisplacementFieldTransform, Transform, _as_points

_CHUNK_POINTS = 131072  # evaluate large grids in blocks (memory: points x control points)


class ThinPlateSplineTransform(Transform):
    """Fixed -> moving thin-plate spline through ``fixed_points`` -> ``moving_points`` (N, ndim) in LPS mm."""

    vectorised = True

    def __init__(
        self,
        fixed_points: np.ndarray,
        moving_points: np.ndarray,
        regularisation: float = 0.0,
        domain: Geometry | None = None,
    ) -> None:
        fixed = np.atleast_2d(np.asarray(fixed_points, dtype=np.float64))
        moving = np.atleast_2d(np.asarray(moving_points, dtype=np.float64))
        if fixed.shape != moving.shape or fixed.shape[1] not in (2, 3):
            raise InputMismatchError(
                f"a thin-plate spline needs paired (N, 2|3) points, got {fixed.shape} and {moving.shape}"
            )
        if regularisation < 0 or not np.isfinite(regularisation):
            raise InputMismatchError(f"TPS regularisation must be >= 0, got {regularisation}")
        self.ndim = fixed.shape[1]
        if len(fixed) < self.ndim + 1:
            raise InputMismatchError(
                f"a {self.ndim}D thin-plate spline needs at least {self.ndim + 1} landmark pairs, got {len(fixed)}"
            )
        if domain is not None and domain.ndim != self.ndim:
            raise InputMismatchError(f"a {self.ndim}D thin-plate spline cannot use a {domain.ndim}D domain")
        self.fixed_points, self.moving_points = fixed, moving
        self.regularisation = float(regularisation)
        self.domain = domain
        self._centre = fixed.mean(axis=0)
        self._scale = float(np.sqrt(np.mean(np.sum((fixed - self._centre) ** 2, axis=1)))) or 1.0
        self._solve()
        self._inverse: ThinPlateSplineTransform | None = None
        # > 1: the views evaluate the spline every ``display_stride`` voxels and interpolate (live
        # previews while a landmark is dragged; see slice_warp). 1: exact on every voxel.
        self.display_stride = 1

    # ---- fitting ------------------------------------------------------------------------------
    def _normalise(self, points: np.ndarray) -> np.ndarray:
        return (points - self._centre) / self._scale

    def _kernel(self, squared: np.ndarray) -> np.ndarray:
        """U(r) from r^2, in place (r^2 log r = r^2 log(r^2) / 2, 0 at r = 0; r in 3D)."""
        if self.ndim == 3:
            return np.sqrt(squared, out=squared)
        logarithm = np.log(np.maximum(squared, np.finfo(squared.dtype).tiny))
        squared *= logarithm
        squared *= 0.5
        return squared

    def _squared_distances(self, points: np.ndarray) -> np.ndarray:
        nodes = self._nodes
        squared = (points**2).sum(axis=1)[:, None] + (nodes**2).sum(axis=1)[None, :] - 2.0 * points @ nodes.T
        return np.maximum(squared, 0.0, out=squared)

    def _solve(self) -> None:
        self._nodes = self._normalise(self.fixed_points)
        count, ndim = self._nodes.shape
        kernel = self._kernel(self._squared_distances(self._nodes))
        kernel[np.diag_indices(count)] += self.regularisation
        polynomial = np.hstack([np.ones((count, 1)), self._nodes])
        system = np.zeros((count + ndim + 1, count + ndim + 1))
        system[:count, :count] = kernel
        system[:count, count:] = polynomial
        system[count:, :count] = polynomial.T
        values = np.zeros((count + ndim + 1, ndim))
        values[:count] = self.moving_points
        try:
            solution = np.linalg.solve(system, values)
        except np.linalg.LinAlgError:
            raise InputMismatchError(
                "cannot fit a thin-plate spline: the fixed landmarks are collinear / coplanar or two fixed "
                "landmarks coincide with different moving partners (add a regularisation or fix the points)"
            ) from None
        if not np.all(np.isfinite(solution)):
            raise InputMismatchError("cannot fit a thin-plate spline: the landmark system is singular")
        self._weights = solution[:count]
        self._affine_bias = solution[count]
        self._affine_matrix = solution[count + 1 :]  # rows: normalised input axes

    # ---- evaluation ---------------------------------------------------------------------------
    def transform_points(self, points_mm: np.ndarray) -> np.ndarray:
        points, single = _as_points(points_mm, self.ndim)
        out = self._evaluate(points, np.float64)
        return out[0] if single else out

    def transform_points_for_display(self, points_mm: np.ndarray) -> np.ndarray:
        """Like ``transform_points`` with the kernel in single precision (errors ~1e-4 mm, 5x faster in 2D:
        float32 logarithms are vectorised), for the interactive views."""
        points, _single = _as_points(points_mm, self.ndim)
        return self._evaluate(points, np.float32)

    def _evaluate(self, points: np.ndarray, kernel_dtype) -> np.ndarray:
        out = np.empty_like(points)
        nodes = self._nodes.astype(kernel_dtype)
        weights = self._weights.astype(kernel_dtype)
        for start in range(0, len(points), _CHUNK_POINTS):
            block = self._normalise(points[start : start + _CHUNK_POINTS])
            low = block.astype(kernel_dtype, copy=False)
            # numpy without BLAS: these thin products are 3-4x slower through BLAS whenever other work
            # holds its threads (measured here); squared distances by broadcasting, per axis
            squared = np.zeros((len(low), len(nodes)), dtype=kernel_dtype)
            for axis in range(self.ndim):
                difference = low[:, axis, None] - nodes[None, :, axis]
                squared += difference * difference
            kernel = self._kernel(squared)
            weighted = np.einsum("pn,ne->pe", kernel, weights)
            out[start : start + len(block)] = (
                self._affine_bias + np.einsum("pd,de->pe", block, self._affine_matrix) + weighted
            )
        return out

    def affine_part(self) -> AffineTransform:
        """The spline's affine term as a fixed -> moving affine in mm."""
        matrix = self._affine_matrix.T / self._scale
        return AffineTransform(matrix, self._affine_bias - matrix @ self._centre)

    def bending_energy(self) -> float:
        """``trace(W^T K W)`` in normalised units (0 for an affine map): how much the spline bends."""
        kernel = self._kernel(self._squared_distances(self._nodes))
        return float(np.trace(self._weights.T @ kernel @ self._weights))

    # ---- inverse ------------------------------------------------------------------------------
    def inverse(self) -> ThinPlateSplineTransform:
        """The moving -> fixed spline fitted to the same pairs (exact at the landmarks, approximate between)."""
        if self._inverse is None:
            self._inverse = ThinPlateSplineTransform(self.moving_points, self.fixed_points, self.regularisation)
        return self._inverse

    def _inverse_start(self, targets: np.ndarray) -> np.ndarray:
        return self.inverse().transform_points(targets)

    # ---- ITK ----------------------------------------------------------------------------------
    def sample_domain(self) -> Geometry:
        """Where ``to_sitk`` samples the residual field: ``domain``, else a box around the landmarks."""
        if self.domain is not None:
            return self.domain
        low, high = self.fixed_points.min(axis=0), self.fixed_points.max(axis=0)
        margin = np.maximum(high - low, 10.0)
        low, high = low - margin, high + margin
        spacing = np.maximum((high - low) / 127.0, 0.5)
        size = np.ceil((high - low) / spacing).astype(int) + 1
        return Geometry(tuple(int(n) for n in size[::-1]), spacing, low)

    def to_sitk(self) -> sitk.Transform:
        """A SimpleITK composite: the affine part, then the residual field on ``sample_domain()``."""
        geometry = self.sample_domain()
        affine = self.affine_part()
        points = geometry.voxel_centres_mm().reshape(-1, self.ndim)
        # u such that affine(x + u(x)) = T(x): the field is applied first, then the affine.
        residual = affine.inverse().transform_points(self.transform_points(points)) - points
        field = DisplacementFieldTransform(residual.reshape(geometry.shape + (self.ndim,)), geometry)
        composite = sitk.CompositeTransform(self.ndim)
        composite.AddTransform(affine.to_sitk())
        composite.AddTransform(field.to_sitk())  # ITK applies the last added first: field, then affine
        return composite

    def describe(self) -> str:
        kind = "interpolating" if self.regularisation == 0 else f"regularisation {self.regularisation:g}"
        return f"thin-plate spline: {len(self.fixed_points)} landmarks, {kind}"
