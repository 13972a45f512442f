"""Resampling: direction of the transform, slice path equals the full path."""

import numpy as np
import pytest
import SimpleITK as sitk

from regviewer.core.image import Geometry, Image
from regviewer.core.resample import SliceResampler, resample_image
from regviewer.core.transforms import AffineTransform, BSplineTransform, CompositeTransform


@pytest.fixture
def moving3d():
    rng = np.random.default_rng(0)
    array = rng.normal(size=(20, 24, 28)).astype(np.float32)
    return Image.from_array(array, spacing=(1.0, 1.2, 2.0), origin=(-10, 4, 3), name="moving")


def test_translation_direction_is_fixed_to_moving():
    array = np.zeros((30, 30), np.float32)
    array[10, 12] = 1.0  # (y=10, x=12)
    moving = Image.from_array(array)
    # T(x) = x + (2, 3): the fixed voxel at (x=10, y=7) samples moving (12, 10).
    warped = resample_image(moving, moving.geometry, AffineTransform(np.eye(2), (2.0, 3.0)), "nearest")
    assert warped.array[7, 10] == 1.0 and warped.array.sum() == 1.0


def test_slice_equals_full_resample(moving3d):
    reference = Geometry((16, 20, 22), (1.3, 1.1, 1.7), (-8, 5, 6), np.eye(3))
    bspline_reference = reference.empty_sitk(sitk.sitkFloat32)
    bspline = sitk.BSplineTransformInitializer(bspline_reference, [3, 3, 3])
    bspline.SetParameters(tuple(np.random.default_rng(1).uniform(-2, 2, bspline.GetNumberOfParameters())))
    transform = CompositeTransform([BSplineTransform(bspline), AffineTransform(np.eye(3) * 1.05, (1, -1, 2))])
    full = resample_image(moving3d, reference, transform).array
    resampler = SliceResampler(moving3d, reference, transform)
    for axis in range(3):
        for index in (0, reference.shape[axis] // 2, reference.shape[axis] - 1):
            np.testing.assert_allclose(resampler.slice(axis, index), np.take(full, index, axis=axis), atol=1e-5)


def test_labels_stay_labels():
    labels = np.zeros((20, 20, 20), np.uint16)
    labels[5:15, 5:15, 5:15] = 7
    labels[8:12, 8:12, 8:12] = 3
    image = Image.from_array(labels, is_label=True)
    warped = resample_image(image, image.geometry, AffineTransform(np.eye(3) * 0.93, (0.4, 0.3, 0.2)))
    assert set(np.unique(warped.array)) <= {0, 3, 7}
    assert warped.array.dtype == np.uint16 and warped.is_label
