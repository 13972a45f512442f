"""Checks made before a registration stage runs, so that hopeless inputs fail at once with the reason.

Without them, ITK either raises a cryptic message (a one-voxel image: "ITK ERROR ... (0x55d...)", a
constant image: "Refusing to change spacing ...") or, worse, a B-spline stage on images that do not
overlap "completes" after 0 iterations and reports invented before / after figures.
"""

from __future__ import annotations

import numpy as np

from regviewer.core.errors import InputMismatchError, InvalidImageError
from regviewer.core.image import Image
from regviewer.core.transforms import Transform

MIN_PLANE_VOXELS = 4  # an image must be at least 4 x 4 voxels in some plane to be registered
_SAMPLES_PER_AXIS = 12


def _label(image: Image, role: str) -> str:
    return f"the {role} image {image.name}" if image.name else f"the {role} image"


def check_images_usable(fixed: Image, moving: Image) -> None:
    """Refuse images too small to register, and constant images (no structure to align).

    Raises:
        InvalidImageError: naming the image (its file name) and the reason.
    """
    for role, image in (("fixed", fixed), ("moving", moving)):
        big_axes = sum(1 for n in image.shape if n >= MIN_PLANE_VOXELS)
        if big_axes < 2:
            dims = "x".join(str(n) for n in reversed(image.shape))
            raise InvalidImageError(
                f"{image.name or role}: the {role} image has {dims} voxels: too small to register "
                f"(at least {MIN_PLANE_VOXELS} x {MIN_PLANE_VOXELS} voxels in a plane)"
            )
        array = np.asarray(image.array)
        low, high = float(array.min()), float(array.max())
        if low == high:
            raise InvalidImageError(
                f"{image.name or role}: the {role} image is constant (every voxel is {low:g}): "
                "there is no structure to align"
            )


def _grid_points(image: Image) -> np.ndarray:
    """A coarse lattice of physical points over the image (corners included), (N, ndim)."""
    axes = [np.linspace(0, n - 1, min(n, _SAMPLES_PER_AXIS)) for n in reversed(image.shape)]
    index = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, image.ndim)
    return image.index_to_physical(index)


def overlap_fraction(fixed: Image, moving: Image, transform: Transform | None) -> float:
    """Share of a lattice of fixed points that ``transform`` (identity when None) maps inside the moving grid."""
    points = _grid_points(fixed)
    mapped = points if transform is None else transform.transform_points(points)
    index = moving.physical_to_index(mapped)
    upper = np.array(list(reversed(moving.shape)), dtype=float) - 0.5
    inside = np.all((index >= -0.5) & (index <= upper), axis=1) & np.all(np.isfinite(index), axis=1)
    return float(np.mean(inside))


def _span(image: Image) -> str:
    points = _grid_points(image)
    low, high = points.min(axis=0), points.max(axis=0)
    return " x ".join(f"{a:.0f}..{b:.0f}" for a, b in zip(low, high))


def check_overlap(fixed: Image, moving: Image, transform: Transform | None) -> None:
    """Refuse a stage whose start maps no part of the fixed image into the moving image.

    Raises:
        InputMismatchError: naming both images and their extents in mm.
    """
    if overlap_fraction(fixed, moving, transform) > 0:
        return
    start = "after the initial transform" if transform is not None else "in physical space"
    raise InputMismatchError(
        f"{_label(fixed, 'fixed')} and {_label(moving, 'moving')} do not overlap {start} (fixed spans "
        f"{_span(fixed)} mm, moving {_span(moving)} mm): give an initial transform (--init), or start with a "
        "rigid or affine stage, which aligns the image centres"
    )
