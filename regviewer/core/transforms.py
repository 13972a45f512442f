"""Spatial transforms in physical space (LPS mm, points in (x, y, z) order).

One convention everywhere: a transform maps FIXED-space points to MOVING-space points, which is what
resampling needs: ``warped(x) = moving(T(x))`` for x on the fixed grid. The other direction,
"moving -> fixed (points)", carries moving landmarks into fixed space and is given by
``inverse_transform_points`` (exact for linear transforms, Newton iterations otherwise) or by
``inverse()`` (exact for linear transforms, a numerically inverted field for deformable ones).

Every transform converts to and from SimpleITK, so that resampling and file I/O run in C++.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import map_coordinates

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry


def _as_points(points: np.ndarray, ndim: int) -> tuple[np.ndarray, bool]:
    """(N, ndim) float64 points and whether the input was a single point."""
    array = np.asarray(points, dtype=np.float64)
    single = array.ndim == 1
    array = np.atleast_2d(array)
    if array.shape[-1] != ndim:
        raise InputMismatchError(f"points have {array.shape[-1]} coordinates, the transform is {ndim}D")
    return array, single


class Transform(ABC):
    """A fixed -> moving map of physical points."""

    ndim: int
    # True when transform_points is cheap numpy for many points (no per-point ITK calls): the views
    # then warp a slice through it directly (slice_warp) and fields are sampled without ITK.
    vectorised: bool = False

    @property
    def is_linear(self) -> bool:
        return False

    @abstractmethod
    def transform_points(self, points_mm: np.ndarray) -> np.ndarray:
        """Fixed -> moving: map (N, ndim) or (ndim,) LPS mm points."""

    @abstractmethod
    def to_sitk(self) -> sitk.Transform:
        """A new SimpleITK transform with the same mapping (fixed -> moving)."""

    @abstractmethod
    def inverse(self) -> Transform:
        """The moving -> fixed map (exact for linear transforms, numerical for deformable ones)."""

    def inverse_transform_points(
        self, points_mm: np.ndarray, iterations: int = 20, tolerance_mm: float = 1e-4
    ) -> np.ndarray:
        """Moving -> fixed for points: solve T(x) = y by damped Newton iterations (numerical Jacobian).

        Exact transforms override this. A step is taken only where it brings T(x) closer to y (else
        it is halved, up to 10 times), so a strongly compressing field cannot send a point back and
        forth between two guesses; a point that cannot be solved keeps its closest guess.
        """
        targets, single = _as_points(points_mm, self.ndim)
        estimate = self._inverse_start(targets)
        residual = self.transform_points(estimate) - targets
        for _ in range(iterations):
            error = np.linalg.norm(residual, axis=1)
            active = np.flatnonzero(np.max(np.abs(residual), axis=1) >= tolerance_mm)
            if active.size == 0:
                break
            step = np.einsum("nij,nj->ni", np.linalg.pinv(self._jacobians(estimate[active])), residual[active])
            if not self._backtrack(estimate, residual, error, targets, active, step):
                break
        return estimate[0] if single else estimate

    def _jacobians(self, points: np.ndarray, step_mm: float = 0.5) -> np.ndarray:
        """(N, ndim, ndim) central-difference Jacobians of ``transform_points``."""
        jacobians = np.empty((len(points), self.ndim, self.ndim))
        for axis in range(self.ndim):
            offset = np.zeros(self.ndim)
            offset[axis] = step_mm
            forward = self.transform_points(points + offset)
            backward = self.transform_points(points - offset)
            jacobians[:, :, axis] = (forward - backward) / (2 * step_mm)
        return jacobians

    def _backtrack(self, estimate, residual, error, targets, active, step) -> bool:
        """Take ``step`` (halved until the error falls) at the ``active`` points, in place; False if none moved."""
        moved = False
        scale = 1.0
        for _ in range(10):
            trial = estimate[active] - scale * step
            trial_residual = self.transform_points(trial) - targets[active]
            better = np.linalg.norm(trial_residual, axis=1) < error[active]
            chosen = active[better]
            estimate[chosen], residual[chosen] = trial[better], trial_residual[better]
            moved |= bool(better.any())
            active, step = active[~better], step[~better]
            if active.size == 0:
                break
            scale *= 0.5
        return moved

    def transform_points_for_display(self, points_mm: np.ndarray) -> np.ndarray:
        """Fixed -> moving for drawing: a transform may trade accuracy (below 1e-3 mm) for speed here."""
        return self.transform_points(points_mm)

    def _inverse_start(self, targets: np.ndarray) -> np.ndarray:
        """First guess of the Newton iterations of ``inverse_transform_points`` (an approximate inverse helps)."""
        return targets.copy()

    def describe(self) -> str:
        return type(self).__name__


class AffineTransform(Transform):
    """``T(x) = matrix @ x + translation`` (covers identity, rigid, similarity and affine)."""

    def __init__(self, matrix: np.ndarray, translation: Sequence[float] | None = None) -> None:
        matrix = np.array(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] not in (2, 3):
            raise InputMismatchError(f"affine matrix must be 2x2 or 3x3, got {matrix.shape}")
        self.ndim = matrix.shape[0]
        self.matrix = matrix
        self.translation = (
            np.zeros(self.ndim) if translation is None else np.array(translation, dtype=np.float64).reshape(self.ndim)
        )
        self.matrix.setflags(write=False)
        self.translation.setflags(write=False)

    @classmethod
    def identity(cls, ndim: int) -> AffineTransform:
        return cls(np.eye(ndim))

    @classmethod
    def from_homogeneous(cls, matrix: np.ndarray) -> AffineTransform:
        matrix = np.asarray(matrix, dtype=np.float64)
        ndim = matrix.shape[0] - 1
        return cls(matrix[:ndim, :ndim], matrix[:ndim, ndim])

    @property
    def homogeneous(self) -> np.ndarray:
        out = np.eye(self.ndim + 1)
        out[: self.ndim, : self.ndim] = self.matrix
        out[: self.ndim, self.ndim] = self.translation
        return out

    @property
    def is_linear(self) -> bool:
        return True

    def transform_points(self, points_mm: np.ndarray) -> np.ndarray:
        points, single = _as_points(points_mm, self.ndim)
        out = points @ self.matrix.T + self.translation
        return out[0] if single else out

    def inverse(self) -> AffineTransform:
        inverse_matrix = np.linalg.inv(self.matrix)
        return AffineTransform(inverse_matrix, -inverse_matrix @ self.translation)

    def inverse_transform_points(
        self, points_mm: np.ndarray, iterations: int = 0, tolerance_mm: float = 0.0
    ) -> np.ndarray:
        return self.inverse().transform_points(points_mm)

    def compose(self, then: AffineTransform) -> AffineTransform:
        """The affine that applies ``self`` first and ``then`` second."""
        return AffineTransform.from_homogeneous(then.homogeneous @ self.homogeneous)

    def to_sitk(self) -> sitk.Transform:
        transform = sitk.AffineTransform(self.ndim)
        transform.SetMatrix(tuple(self.matrix.reshape(-1)))
        transform.SetTranslation(tuple(self.translation))
        return transform

    def rotation_angle_deg(self) -> float:
        """Rotation angle of the nearest rotation (polar decomposition), in degrees."""
        u, _, vt = np.linalg.svd(self.matrix)
        rotation = u @ vt
        if self.ndim == 2:
            return float(np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0])))
        return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1))))

    def describe(self) -> str:
        scale = np.linalg.svd(self.matrix, compute_uv=False)
        return (
            f"affine: rotation {self.rotation_angle_deg():.2f} deg, scales {np.round(scale, 4).tolist()}, "
            f"translation {np.round(self.translation, 3).tolist()} mm"
        )


class BSplineTransform(Transform):
    """A free-form deformation on a B-spline control grid (wraps ``sitk.BSplineTransform``).

    Points outside the control grid's domain are not moved (ITK behaviour).
    """

    def __init__(self, transform: sitk.BSplineTransform) -> None:
        # SimpleITK copies share their ITK object until modified: SetParameters forces a private copy,
        # so that an optimiser still working on ``transform`` cannot change this one.
        self._transform = sitk.BSplineTransform(transform)
        self._transform.SetParameters(transform.GetParameters())
        self.ndim = self._transform.GetDimension()

    def transform_points(self, points_mm: np.ndarray) -> np.ndarray:
        points, single = _as_points(points_mm, self.ndim)
        out = np.array([self._transform.TransformPoint(tuple(p)) for p in points])
        return out[0] if single else out

    def to_sitk(self) -> sitk.Transform:
        return sitk.BSplineTransform(self._transform)

    def domain_geometry(self, max_voxels_per_axis: int = 128) -> Geometry:
        """A grid covering the control grid's domain, used to sample or invert the deformation."""
        size_mm = np.array(self._transform.GetTransformDomainPhysicalDimensions())
        direction = np.array(self._transform.GetTransformDomainDirection()).reshape(self.ndim, self.ndim)
        spacing = np.maximum(size_mm / max_voxels_per_axis, 1.0)
        size = np.maximum(np.ceil(size_mm / spacing).astype(int) + 1, 2)
        return Geometry(tuple(reversed(size.tolist())), spacing, self._transform.GetTransformDomainOrigin(), direction)

    def inverse(self) -> Transform:
        return to_displacement_field(self, self.domain_geometry()).inverse()

    def mesh_size(self) -> tuple[int, ...]:
        return tuple(self._transform.GetTransformDomainMeshSize())

    def describe(self) -> str:
        return f"B-spline: mesh {'x'.join(str(n) for n in self.mesh_size())}, {self._transform.GetNumberOfParameters()} parameters"


class DisplacementFieldTransform(Transform):
    """``T(x) = x + u(x)``; u in mm (x, y, z components, LPS) sampled on the voxel centres of ``geometry``.

    ``displacement`` has shape ``geometry.shape + (ndim,)``. Outside the grid u = 0 (ITK behaviour),
    which is why results with an affine part are kept as a composite, not a bare field.
    """

    def __init__(self, displacement: np.ndarray, geometry: Geometry) -> None:
        displacement = np.asarray(displacement, dtype=np.float64)
        if displacement.shape != tuple(geometry.shape) + (geometry.ndim,):
            raise InputMismatchError(
                f"displacement field shape {displacement.shape} does not fit grid {geometry.shape} + ({geometry.ndim},)"
            )
        self.ndim = geometry.ndim
        self.displacement = displacement
        self.geometry = geometry

    @classmethod
    def from_sitk_image(cls, field: sitk.Image) -> DisplacementFieldTransform:
        return cls(sitk.GetArrayFromImage(field).astype(np.float64), Geometry.from_sitk(field))

    def to_sitk_image(self) -> sitk.Image:
        field = sitk.GetImageFromArray(self.displacement, isVector=True)
        self.geometry.apply_to_sitk(field)
        return field

    def transform_points(self, points_mm: np.ndarray) -> np.ndarray:
        points, single = _as_points(points_mm, self.ndim)
        index_zyx = self.geometry.physical_to_index(points)[:, ::-1].T
        upper = np.array(self.geometry.shape)[:, None] - 1
        inside = np.all((index_zyx >= 0) & (index_zyx <= upper), axis=0)
        moved = points.copy()
        if np.any(inside):
            for component in range(self.ndim):
                moved[inside, component] += map_coordinates(
                    self.displacement[..., component], index_zyx[:, inside], order=1, mode="nearest"
                )
        return moved[0] if single else moved

    def to_sitk(self) -> sitk.Transform:
        return sitk.DisplacementFieldTransform(self.to_sitk_image())

    def inverse(self) -> DisplacementFieldTransform:
        """Numerical inverse on the same grid (ITK's fixed-point InvertDisplacementField)."""
        inverted = sitk.InvertDisplacementField(
            self.to_sitk_image(),
            maximumNumberOfIterations=50,
            maxErrorToleranceThreshold=0.01,
            meanErrorToleranceThreshold=0.0001,
            enforceBoundaryCondition=True,
        )
        return DisplacementFieldTransform.from_sitk_image(inverted)

    def describe(self) -> str:
        squared = np.einsum("...i,...i->...", self.displacement, self.displacement)  # 8x faster than linalg.norm
        return f"displacement field: grid {'x'.join(str(n) for n in self.geometry.size)}, max |u| {np.sqrt(squared.max()):.2f} mm"


class CompositeTransform(Transform):
    """A chain of transforms, listed in the order they are APPLIED to a fixed point.

    ``CompositeTransform([bspline, affine])`` maps x to ``affine(bspline(x))``: the usual result of an
    affine stage followed by a deformable stage that was optimised with the affine as the moving
    initial transform. (ITK's CompositeTransform lists the same chain in the reverse order.)
    """

    def __init__(self, transforms: Iterable[Transform]) -> None:
        flat: list[Transform] = []
        for transform in transforms:
            flat.extend(transform.transforms if isinstance(transform, CompositeTransform) else [transform])
        if not flat:
            raise InputMismatchError("a composite transform needs at least one transform")
        if len({t.ndim for t in flat}) != 1:
            raise InputMismatchError("all transforms of a composite must have the same dimension")
        self.transforms = tuple(flat)
        self.ndim = flat[0].ndim

    @property
    def is_linear(self) -> bool:
        return all(t.is_linear for t in self.transforms)

    def transform_points(self, points_mm: np.ndarray) -> np.ndarray:
        points = np.asarray(points_mm, dtype=np.float64)
        for transform in self.transforms:
            points = transform.transform_points(points)
        return points

    def to_sitk(self) -> sitk.Transform:
        composite = sitk.CompositeTransform(self.ndim)
        for transform in reversed(self.transforms):
            composite.AddTransform(transform.to_sitk())
        return composite

    def inverse(self) -> CompositeTransform:
        return CompositeTransform([t.inverse() for t in reversed(self.transforms)])

    def inverse_transform_points(
        self, points_mm: np.ndarray, iterations: int = 20, tolerance_mm: float = 1e-4
    ) -> np.ndarray:
        points = np.asarray(points_mm, dtype=np.float64)
        for transform in reversed(self.transforms):
            points = transform.inverse_transform_points(points, iterations, tolerance_mm)
        return points

    def linear_part(self) -> AffineTransform | None:
        """The composition of the linear transforms when the chain is linear, else None."""
        if not self.is_linear:
            return None
        result = AffineTransform.identity(self.ndim)
        for transform in self.transforms:
            result = result.compose(transform)  # type: ignore[arg-type]
        return result

    def describe(self) -> str:
        return " -> ".join(t.describe() for t in self.transforms)


def identity(ndim: int) -> AffineTransform:
    return AffineTransform.identity(ndim)


def simplify(transform: Transform) -> Transform:
    """Collapse a chain of linear transforms into one affine; keep anything else as it is."""
    if isinstance(transform, CompositeTransform):
        linear = transform.linear_part()
        if linear is not None:
            return linear
        if len(transform.transforms) == 1:
            return transform.transforms[0]
    return transform


def _affine_from_linear_sitk(transform: sitk.Transform, ndim: int) -> AffineTransform:
    """Any linear SimpleITK transform (Euler, Similarity, Versor, Affine ...) as an AffineTransform."""
    origin = np.array(transform.TransformPoint((0.0,) * ndim))
    columns = [np.array(transform.TransformPoint(tuple(np.eye(ndim)[axis]))) - origin for axis in range(ndim)]
    return AffineTransform(np.stack(columns, axis=1), origin)


def transform_from_sitk(transform: sitk.Transform) -> Transform:
    """Convert a SimpleITK transform (any kind, composites flattened) into a RegViewer transform."""
    transform = transform.Downcast() if hasattr(transform, "Downcast") else transform
    ndim = transform.GetDimension()
    if isinstance(transform, sitk.CompositeTransform):
        # ITK applies the last-added transform first.
        parts = [transform_from_sitk(transform.GetNthTransform(i)) for i in range(transform.GetNumberOfTransforms())]
        return simplify(CompositeTransform(reversed(parts))) if parts else AffineTransform.identity(ndim)
    if isinstance(transform, sitk.BSplineTransform):
        return BSplineTransform(transform)
    if isinstance(transform, sitk.DisplacementFieldTransform):
        return DisplacementFieldTransform.from_sitk_image(transform.GetDisplacementField())
    if transform.IsLinear():
        return _affine_from_linear_sitk(transform, ndim)
    raise InputMismatchError(f"unsupported transform type {transform.GetName()}")


def to_displacement_field(transform: Transform, geometry: Geometry) -> DisplacementFieldTransform:
    """Sample ``T(x) - x`` on the voxel centres of ``geometry`` (mm, LPS, (x, y, z) components)."""
    if transform.ndim != geometry.ndim:
        raise InputMismatchError(f"a {transform.ndim}D transform cannot be sampled on a {geometry.ndim}D grid")
    if isinstance(transform, DisplacementFieldTransform) and transform.geometry.same_as(geometry):
        return transform
    parts = transform.transforms if isinstance(transform, CompositeTransform) else (transform,)
    if any(part.vectorised for part in parts):  # no ITK equivalent (e.g. a thin-plate spline): exact numpy
        points = geometry.voxel_centres_mm()
        moved = transform.transform_points(points.reshape(-1, geometry.ndim)).reshape(points.shape)
        return DisplacementFieldTransform(moved - points, geometry)
    field = sitk.TransformToDisplacementField(
        transform.to_sitk(),
        sitk.sitkVectorFloat64,
        [int(n) for n in geometry.size],
        tuple(float(v) for v in geometry.origin),
        tuple(float(v) for v in geometry.spacing),
        tuple(float(v) for v in geometry.direction.reshape(-1)),
    )
    return DisplacementFieldTransform.from_sitk_image(field)


def check_transform(transform: Transform) -> None:
    """Refuse a transform that cannot map images: NaN / Inf values, or a singular (zero-scale) matrix.

    Applied to every transform read from a file (``--init``, ``render --transform``, the window), so a
    corrupt file is refused with its reason instead of being shown or used as a start.

    Raises:
        InvalidImageError: the reason, in one line.
    """
    from regviewer.core.errors import InvalidImageError

    parts = transform.transforms if isinstance(transform, CompositeTransform) else (transform,)
    for part in parts:
        if isinstance(part, AffineTransform):
            if not (np.all(np.isfinite(part.matrix)) and np.all(np.isfinite(part.translation))):
                raise InvalidImageError("the transform's matrix or translation holds NaN or Inf")
            scales = np.linalg.svd(part.matrix, compute_uv=False)
            if scales.min() <= 1e-8 * max(1.0, float(scales.max())):
                raise InvalidImageError(
                    f"the transform's matrix is singular (scales {np.round(scales, 4).tolist()}): it collapses "
                    "space and cannot map one image onto another"
                )
        elif isinstance(part, DisplacementFieldTransform):
            bad = int(part.displacement.size - np.count_nonzero(np.isfinite(part.displacement)))
            if bad:
                raise InvalidImageError(f"the displacement field holds {bad} NaN or Inf values")
        elif isinstance(part, BSplineTransform):
            if not np.all(np.isfinite(part.to_sitk().GetParameters())):
                raise InvalidImageError("the B-spline transform's parameters hold NaN or Inf")
