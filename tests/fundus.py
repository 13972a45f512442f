"""A fundus pair with a known warp, made from scikit-image's real fundus photograph (``data.retina()``).

The fixed picture is the photograph shrunk to ``size`` pixels (1 mm pixels, so errors in mm are
errors in pixels); the moving picture is it warped by a known fixed -> moving transform (a small
affine and a smooth deformation), every RGB channel resampled alike. Both are written as PNG files
and read back through ``read_image``, as a user's pictures would be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from helpers import about_centre, rotation, smooth_random_field

from regviewer.core.image import Image
from regviewer.core.resample import resample_image
from regviewer.core.transforms import CompositeTransform, Transform


def retina_picture(size: int = 384) -> np.ndarray:
    """``skimage.data.retina()`` shrunk to ``size`` x ``size`` (uint8 RGB)."""
    from skimage import data
    from skimage.transform import resize

    return (resize(data.retina(), (size, size), anti_aliasing=True) * 255).round().astype(np.uint8)


def warp_rgb(rgb: np.ndarray, fixed_to_moving: Transform) -> np.ndarray:
    """The moving picture: moving(T(x)) = fixed(x), each channel resampled through T's inverse."""
    inverse = fixed_to_moving.inverse()
    channels = [
        resample_image(
            Image.from_array(rgb[..., c].astype(np.float32)), Image.from_array(rgb[..., 0]).geometry, inverse, "linear"
        ).array
        for c in range(3)
    ]
    return np.clip(np.stack(channels, -1), 0, 255).round().astype(np.uint8)


def fundus_truth(size: int = 384) -> Transform:
    """The known fixed -> moving transform: 4 degrees, 3 % scaling, a shift, and a smooth 4 px deformation."""
    grid = Image.from_array(np.zeros((size, size), np.float32))
    affine = about_centre(grid, rotation(4.0) * 1.03, (6.0, -5.0))
    return CompositeTransform([smooth_random_field(grid.geometry, 4.0, coarse_mm=size / 4, seed=11), affine])


def write_fundus_pair(folder: Path, size: int = 384) -> tuple[Path, Path, Transform]:
    """fixed.png and moving.png in ``folder``, and the true fixed -> moving transform."""
    folder.mkdir(parents=True, exist_ok=True)
    fixed_rgb = retina_picture(size)
    truth = fundus_truth(size)
    paths = folder / "fixed.png", folder / "moving.png"
    for path, rgb in zip(paths, (fixed_rgb, warp_rgb(fixed_rgb, truth))):
        sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(path))
    return paths[0], paths[1], truth
