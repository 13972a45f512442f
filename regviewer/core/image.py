"""Images in physical space: a numpy array plus the geometry that places it in LPS millimetres.

Conventions (../shared/docs/CONVENTIONS.md):

- ``Image.array`` is numpy in (z, y, x) order for 3D and (y, x) for 2D: exactly what
  ``SimpleITK.GetArrayFromImage`` returns.
- Geometry vectors are in ITK order (x, y, z): ``spacing`` and ``origin`` have ``ndim`` entries,
  ``direction`` is an ``ndim x ndim`` matrix whose COLUMNS are the physical directions of the
  index axes i, j, k (ITK's convention). Physical points are LPS mm, also (x, y, z).
- Continuous indices passed to or returned by ``index_to_physical`` / ``physical_to_index`` are in
  (i, j, k) = (x, y, z) order, like ITK. Reverse them to index the numpy array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import InvalidImageError


def _as_float_vector(values: Sequence[float], ndim: int, what: str) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64).reshape(-1)
    if vector.size != ndim:
        raise InvalidImageError(f"{what} has {vector.size} values, expected {ndim}")
    return vector


@dataclass(frozen=True, eq=False)
class Geometry:
    """The sampling grid of an image: shape (numpy order) plus spacing / origin / direction (ITK order).

    Attributes:
        shape: array shape, (z, y, x) or (y, x).
        spacing: voxel size in mm along the index axes, (x, y[, z]); all > 0.
        origin: physical position (LPS mm) of the centre of voxel index 0, (x, y[, z]).
        direction: ``ndim x ndim`` matrix; column ``c`` is the unit physical direction of index axis ``c``.
    """

    shape: tuple[int, ...]
    spacing: np.ndarray
    origin: np.ndarray
    direction: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        ndim = len(shape)
        if ndim not in (2, 3):
            raise InvalidImageError(f"images must be 2D or 3D, got {ndim} dimensions (shape {shape})")
        if min(shape) < 1:
            raise InvalidImageError(f"image has an empty dimension (shape {shape})")
        spacing = _as_float_vector(self.spacing, ndim, "spacing")
        origin = _as_float_vector(self.origin, ndim, "origin")
        if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise InvalidImageError(f"spacing must be positive, got {tuple(spacing.round(6))}")
        if not np.all(np.isfinite(origin)):
            raise InvalidImageError("origin contains NaN or Inf")
        direction = np.eye(ndim) if self.direction is None else np.asarray(self.direction, dtype=np.float64)
        direction = direction.reshape(ndim, ndim)
        if not np.all(np.isfinite(direction)) or abs(np.linalg.det(direction)) < 1e-6:
            raise InvalidImageError("direction matrix is singular or not finite")
        for name, value in (("shape", shape), ("spacing", spacing), ("origin", origin), ("direction", direction)):
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    # ---- basic properties -------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> tuple[int, ...]:
        """Number of voxels along (x, y[, z]) (ITK's GetSize)."""
        return tuple(reversed(self.shape))

    @property
    def index_to_physical_matrix(self) -> np.ndarray:
        """Homogeneous ``(ndim+1) x (ndim+1)`` matrix mapping an (x, y, z) index to LPS mm."""
        matrix = np.eye(self.ndim + 1)
        matrix[: self.ndim, : self.ndim] = self.direction @ np.diag(self.spacing)
        matrix[: self.ndim, self.ndim] = self.origin
        return matrix

    # ---- conversions ------------------------------------------------------------------------
    def index_to_physical(self, index_xyz: np.ndarray) -> np.ndarray:
        """Continuous index (..., ndim) in (x, y, z) order -> LPS mm (..., ndim)."""
        index_xyz = np.asarray(index_xyz, dtype=np.float64)
        return index_xyz @ (self.direction @ np.diag(self.spacing)).T + self.origin

    def physical_to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """LPS mm (..., ndim) -> continuous index (..., ndim) in (x, y, z) order."""
        points_mm = np.asarray(points_mm, dtype=np.float64)
        inverse = np.linalg.inv(self.direction @ np.diag(self.spacing))
        return (points_mm - self.origin) @ inverse.T

    def voxel_centres_mm(self) -> np.ndarray:
        """Physical position of every voxel centre, shape ``shape + (ndim,)``, components (x, y, z).

        Built by broadcasting one index axis at a time (no full index grid): cheap enough for the
        viewer, which asks for it on every slice it warps.
        """
        steps = self.direction * self.spacing  # column a: mm per index step along axis a
        points = np.broadcast_to(self.origin, self.shape + (self.ndim,)).copy()
        for axis in range(self.ndim):
            shape = [1] * self.ndim
            shape[self.ndim - 1 - axis] = self.size[axis]
            points += np.arange(self.size[axis]).reshape(shape + [1]) * steps[:, axis]
        return points

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned physical bounding box (min, max) of the voxel centres."""
        corners = np.array(np.meshgrid(*[[0, n - 1] for n in self.size], indexing="ij")).reshape(self.ndim, -1).T
        points = self.index_to_physical(corners)
        return points.min(axis=0), points.max(axis=0)

    def same_as(self, other: Geometry, tolerance: float = 1e-5) -> bool:
        """True when both grids sample the same physical points."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, atol=tolerance)
            and np.allclose(self.origin, other.origin, atol=tolerance)
            and np.allclose(self.direction, other.direction, atol=tolerance)
        )

    def empty_sitk(self, pixel_type: int = sitk.sitkUInt8) -> sitk.Image:
        """A SimpleITK image with this geometry (used as a resampling reference)."""
        image = sitk.Image([int(n) for n in self.size], pixel_type)
        self.apply_to_sitk(image)
        return image

    def apply_to_sitk(self, image: sitk.Image) -> None:
        image.SetSpacing(tuple(float(v) for v in self.spacing))
        image.SetOrigin(tuple(float(v) for v in self.origin))
        image.SetDirection(tuple(float(v) for v in self.direction.reshape(-1)))

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> Geometry:
        ndim = image.GetDimension()
        return cls(
            shape=tuple(reversed(image.GetSize())),
            spacing=np.array(image.GetSpacing()),
            origin=np.array(image.GetOrigin()),
            direction=np.array(image.GetDirection()).reshape(ndim, ndim),
        )

    def describe(self) -> str:
        return (
            f"size {'x'.join(str(n) for n in self.size)}, "
            f"spacing ({', '.join(f'{v:g}' for v in self.spacing)}) mm, "
            f"origin ({', '.join(f'{v:.6g}' for v in self.origin)}) mm"
        )


@dataclass(frozen=True, eq=False)
class Image:
    """A scalar image: numpy array in (z, y, x) / (y, x) order with its physical geometry.

    Attributes:
        array: the voxel values; never modified in place by RegViewer.
        geometry: where the voxels sit in LPS mm.
        name: a short label for messages and the GUI (usually the file name).
        is_label: True for label maps (resampled with nearest neighbour, scored with Dice).
    """

    array: np.ndarray
    geometry: Geometry
    name: str = ""
    is_label: bool = False

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if tuple(array.shape) != tuple(self.geometry.shape):
            raise InvalidImageError(f"array shape {array.shape} does not match geometry shape {self.geometry.shape}")
        object.__setattr__(self, "array", array)

    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        spacing: Sequence[float] | None = None,
        origin: Sequence[float] | None = None,
        direction: np.ndarray | None = None,
        name: str = "",
        is_label: bool = False,
    ) -> Image:
        """Build an image from a (z, y, x) / (y, x) array; geometry arguments are (x, y, z) ordered."""
        array = np.asarray(array)
        ndim = array.ndim
        geometry = Geometry(
            shape=array.shape,
            spacing=np.ones(ndim) if spacing is None else spacing,
            origin=np.zeros(ndim) if origin is None else origin,
            direction=direction,
        )
        return cls(array, geometry, name=name, is_label=is_label)

    @classmethod
    def from_sitk(cls, image: sitk.Image, name: str = "", is_label: bool = False) -> Image:
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise InvalidImageError(
                f"{name or 'image'}: expected a scalar image, got {image.GetNumberOfComponentsPerPixel()} components"
            )
        return cls(sitk.GetArrayFromImage(image), Geometry.from_sitk(image), name=name, is_label=is_label)

    def to_sitk(self) -> sitk.Image:
        """A SimpleITK copy (bool arrays become uint8)."""
        array = self.array.astype(np.uint8) if self.array.dtype == bool else self.array
        image = sitk.GetImageFromArray(np.ascontiguousarray(array))
        self.geometry.apply_to_sitk(image)
        return image

    def with_array(self, array: np.ndarray, name: str | None = None, is_label: bool | None = None) -> Image:
        """Same geometry, other voxel values."""
        return Image(
            array,
            self.geometry,
            name=self.name if name is None else name,
            is_label=self.is_label if is_label is None else is_label,
        )

    # ---- conveniences delegating to the geometry --------------------------------------------
    @property
    def ndim(self) -> int:
        return self.geometry.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        return self.geometry.shape

    @property
    def spacing(self) -> np.ndarray:
        return self.geometry.spacing

    @property
    def origin(self) -> np.ndarray:
        return self.geometry.origin

    @property
    def direction(self) -> np.ndarray:
        return self.geometry.direction

    def index_to_physical(self, index_xyz: np.ndarray) -> np.ndarray:
        return self.geometry.index_to_physical(index_xyz)

    def physical_to_index(self, points_mm: np.ndarray) -> np.ndarray:
        return self.geometry.physical_to_index(points_mm)

    def value_range(self) -> tuple[float, float]:
        return float(np.min(self.array)), float(np.max(self.array))

    def __repr__(self) -> str:
        kind = "labels" if self.is_label else str(self.array.dtype)
        return f"Image({self.name!r}, {kind}, {self.geometry.describe()})"
