"""Warp a moving image into a fixed grid through a fixed -> moving transform.

Two paths share one implementation (SimpleITK's C++ resampler):

- ``resample_image``: the whole fixed grid (CLI outputs, metrics);
- ``SliceResampler``: one 2D slice of the fixed grid on demand, with the moving image and the
  transform converted to SimpleITK once, so that a viewer can redraw a slice in milliseconds.

Interpolation names: "linear", "nearest", "bspline" (cubic), "label" (nearest neighbour: label
values are never mixed).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry, Image
from regviewer.core.transforms import Transform

INTERPOLATORS = {
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
    "bspline": sitk.sitkBSpline,
    "label": sitk.sitkNearestNeighbor,
}


def _interpolator(name: str, moving: Image) -> int:
    if moving.is_label and name == "linear":
        name = "label"
    try:
        return INTERPOLATORS[name]
    except KeyError:
        raise InputMismatchError(f"unknown interpolation {name!r}; choose one of {', '.join(INTERPOLATORS)}") from None


def _moving_sitk(moving: Image, interpolation: str) -> sitk.Image:
    image = moving.to_sitk()
    if INTERPOLATORS.get(interpolation) != sitk.sitkNearestNeighbor and not moving.is_label:
        image = sitk.Cast(image, sitk.sitkFloat32)
    return image


def _sitk_transform(transform: Transform | None, ndim: int) -> sitk.Transform:
    if transform is None:
        return sitk.Transform(ndim, sitk.sitkIdentity)
    if transform.ndim != ndim:
        raise InputMismatchError(f"a {transform.ndim}D transform cannot warp a {ndim}D image")
    return transform.to_sitk()


def resample_image(
    moving: Image,
    reference: Geometry,
    transform: Transform | None = None,
    interpolation: str = "linear",
    default_value: float = 0.0,
) -> Image:
    """``warped(x) = moving(T(x))`` for every voxel centre x of ``reference``.

    Args:
        moving: the image to warp.
        reference: the fixed grid.
        transform: fixed -> moving map; None for identity.
        interpolation: "linear", "nearest", "bspline" or "label"; label images always use nearest.
        default_value: value where T(x) falls outside the moving image.
    """
    array = SliceResampler(moving, reference, transform, interpolation, default_value).full()
    return Image(array, reference, name=f"{moving.name} (warped)", is_label=moving.is_label)


def slice_geometry(reference: Geometry, axis: int, index: int) -> Geometry:
    """The one-voxel-thick 3D grid of slice ``index`` along numpy ``axis`` (0 = z, 1 = y, 2 = x)."""
    if reference.ndim != 3:
        raise InputMismatchError("slices are taken from 3D grids")
    if not 0 <= axis < 3 or not 0 <= index < reference.shape[axis]:
        raise InputMismatchError(f"slice {index} along axis {axis} is outside the grid {reference.shape}")
    xyz_axis = 2 - axis
    start = np.zeros(3)
    start[xyz_axis] = index
    shape = list(reference.shape)
    shape[axis] = 1
    return Geometry(tuple(shape), reference.spacing, reference.index_to_physical(start), reference.direction)


class SliceResampler:
    """Resamples single slices of the fixed grid from a moving image through a fixed transform.

    Build one per (moving image, transform) pair and keep it: the SimpleITK conversions happen once.
    """

    def __init__(
        self,
        moving: Image,
        reference: Geometry,
        transform: Transform | None = None,
        interpolation: str = "linear",
        default_value: float = 0.0,
    ) -> None:
        if moving.ndim != reference.ndim:
            raise InputMismatchError(f"cannot resample a {moving.ndim}D image into a {reference.ndim}D grid")
        self.reference = reference
        self._interpolator = _interpolator(interpolation, moving)
        kind = "nearest" if self._interpolator == sitk.sitkNearestNeighbor else interpolation
        self._moving = _moving_sitk(moving, kind)
        self._transform = _sitk_transform(transform, moving.ndim)
        self._default = float(default_value)

    def full(self) -> np.ndarray:
        """The whole warped array (z, y, x) / (y, x)."""
        return self._resample(self.reference)

    def slice(self, axis: int, index: int) -> np.ndarray:
        """Warped slice ``index`` along numpy ``axis`` as a 2D array (the remaining axes in numpy order).

        For 2D images ``axis`` must be 0 and ``index`` 0: the whole image is the slice.
        """
        if self.reference.ndim == 2:
            if axis != 0 or index != 0:
                raise InputMismatchError("a 2D image has only slice 0 along axis 0")
            return self.full()
        return np.take(self._resample(slice_geometry(self.reference, axis, index)), 0, axis=axis)

    def _resample(self, geometry: Geometry) -> np.ndarray:
        warped = sitk.Resample(self._moving, geometry.empty_sitk(), self._transform, self._interpolator, self._default)
        return sitk.GetArrayViewFromImage(warped).copy()
