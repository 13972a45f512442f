"""The vectorised slice warp used by the views agrees with SimpleITK's resampler."""

import numpy as np
import pytest
import SimpleITK as sitk

from regviewer.core.image import Image
from regviewer.core.resample import SliceResampler, slice_geometry
from regviewer.core.slice_warp import warp_slice
from regviewer.core.transforms import AffineTransform, BSplineTransform, CompositeTransform
from tests.helpers import rotation, smooth_random_field


def _images(ndim):
    rng = np.random.default_rng(4)
    shape = (20, 22, 24) if ndim == 3 else (40, 44)
    fixed = Image.from_array(
        rng.random(shape).astype(np.float32), spacing=(1.1, 0.9, 1.5)[:ndim], origin=(-3.0, 2.0, 1.0)[:ndim]
    )
    moving = Image.from_array(
        rng.random(shape).astype(np.float32) * 100, spacing=(1.0, 1.2, 1.4)[:ndim], origin=(-1.0, 0.0, 3.0)[:ndim]
    )
    bspline = sitk.BSplineTransformInitializer(fixed.to_sitk(), [4] * ndim, 3)
    bspline.SetParameters(tuple(rng.normal(0, 2.0, len(bspline.GetParameters()))))
    return fixed, moving, BSplineTransform(bspline)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("chain", ["bspline", "bspline+affine", "affine+field", "identity"])
def test_fast_slices_equal_the_itk_resampler(ndim, chain):
    fixed, moving, bspline = _images(ndim)
    affine = AffineTransform(rotation((3, -2, 6)) if ndim == 3 else rotation(6), np.array([1.5, -1.0, 0.5])[:ndim])
    transform = {
        "bspline": bspline,
        "bspline+affine": CompositeTransform([bspline, affine]),
        "affine+field": CompositeTransform([affine, smooth_random_field(fixed.geometry, 2.0, coarse_mm=8.0, seed=1)]),
        "identity": None,
    }[chain]
    resampler = SliceResampler(moving, fixed.geometry, transform)
    if ndim == 2:
        assert np.allclose(warp_slice(moving, transform, fixed.geometry), resampler.full(), atol=1e-3)
        return
    for axis, index in ((0, 0), (1, 11), (2, 23)):
        grid = slice_geometry(fixed.geometry, axis, index)
        assert np.allclose(warp_slice(moving, transform, grid), resampler._resample(grid), atol=1e-3)


def test_labels_use_nearest_and_unaligned_bspline_falls_back():
    fixed, moving, bspline = _images(3)
    labels = moving.with_array((moving.array > 50).astype(np.uint8) * 7, is_label=True)
    grid = slice_geometry(fixed.geometry, 0, 10)
    warped = warp_slice(labels, bspline, grid, label=True)
    assert set(np.unique(warped)) <= {0, 7}
    tilted = Image(
        fixed.array, fixed.geometry.__class__(fixed.shape, fixed.spacing, fixed.origin, rotation((0, 0, 20)))
    )
    assert warp_slice(moving, bspline, slice_geometry(tilted.geometry, 0, 3)) is None
