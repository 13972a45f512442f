"""The grid a registration network works on, and how images get onto it (no torch here).

A network is trained on images of one array shape (``model shape``). To register images of any size,
RegViewer builds a *model grid* in the fixed image's space: the fixed image's direction, an
isotropic spacing chosen so that the fixed image's extent (first to last voxel centre along each
axis) fits into the model shape, and the fixed field of view centred in it (the rest is padding,
read as 0 = background). For brain3d (160x192x224 voxels at 1 mm) and a 80x96x112 model this is a
2 mm grid over the whole head, which is what the bundled 3D model was trained on.

Both images go onto that one grid: the fixed image directly, the moving image through the
request's initial transform (``moving(initial(x))`` for each model voxel centre x). Intensities are
scaled to 0..1 first (robust percentiles of each image), so the padding is the image's low value.
Downsampling smooths first (Gaussian, sigma = half the new spacing) to avoid aliasing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from regviewer.core.compose import normalise_intensity
from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry, Image
from regviewer.core.transforms import Transform


def model_grid(reference: Geometry, model_shape: Sequence[int]) -> Geometry:
    """The isotropic grid of ``model_shape`` (numpy order) that holds ``reference``'s extent, centred.

    Raises:
        InputMismatchError: the model is 2D and the image 3D, or the other way round.
    """
    shape = tuple(int(n) for n in model_shape)
    if len(shape) != reference.ndim:
        raise InputMismatchError(f"the model works on {len(shape)}D images but the fixed image is {reference.ndim}D")
    size_xyz = np.array(shape[::-1], dtype=np.float64)
    extent_xyz = (np.array(reference.size, dtype=np.float64) - 1) * reference.spacing
    spacing = float(np.max(extent_xyz / np.maximum(size_xyz - 1, 1)))
    if spacing <= 0:  # a single voxel along every axis
        spacing = float(np.min(reference.spacing))
    offset = (extent_xyz - (size_xyz - 1) * spacing) / 2.0  # <= 0: padding before the first fixed voxel
    origin = reference.origin + reference.direction @ offset
    return Geometry(shape=shape, spacing=np.full(reference.ndim, spacing), origin=origin, direction=reference.direction)


def to_model_grid(
    image: Image, grid: Geometry, transform: Transform | None = None, is_label: bool = False
) -> np.ndarray:
    """``image`` sampled at ``transform(x)`` for each voxel centre x of ``grid`` (float32 array, grid shape).

    Intensity images are normalised to 0..1 first and smoothed when the grid is coarser than the
    image; label maps are sampled by nearest neighbour, unchanged.
    """
    if transform is not None and transform.ndim != grid.ndim:
        raise InputMismatchError(f"a {transform.ndim}D transform cannot map a {grid.ndim}D model grid")
    if is_label:
        source = image.to_sitk()
        interpolator = sitk.sitkNearestNeighbor
    else:
        source = image.with_array(normalise_intensity(image.array), is_label=False).to_sitk()
        source = sitk.Cast(source, sitk.sitkFloat32)
        sigmas = [0.5 * float(grid.spacing[0]) if grid.spacing[0] > 1.2 * s else 0.0 for s in image.spacing]
        if max(sigmas) > 0:
            source = sitk.SmoothingRecursiveGaussian(source, [max(s, 1e-3) for s in sigmas])
        interpolator = sitk.sitkLinear
    sitk_transform = transform.to_sitk() if transform is not None else sitk.Transform(grid.ndim, sitk.sitkIdentity)
    resampled = sitk.Resample(source, grid.empty_sitk(), sitk_transform, interpolator, 0.0, sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(resampled).astype(np.float32)
    return array if is_label else np.clip(array, 0.0, 1.0)  # the recursive Gaussian rings slightly below 0
