"""Transform files: write, read, same points in mm (every format and kind)."""

import numpy as np
import pytest
import SimpleITK as sitk

from regviewer.core.errors import ImageReadError, InputMismatchError
from regviewer.core.image import Geometry
from regviewer.core.io.transforms_io import (
    read_displacement_field,
    read_transform,
    write_displacement_field,
    write_transform,
)
from regviewer.core.transforms import AffineTransform, BSplineTransform, CompositeTransform, to_displacement_field

POINTS = np.random.default_rng(0).uniform(5, 55, (25, 3))


def _bspline():
    reference = sitk.Image([30, 30, 30], sitk.sitkFloat32)
    reference.SetSpacing([2.0, 2.0, 2.0])
    transform = sitk.BSplineTransformInitializer(reference, [3, 3, 3])
    transform.SetParameters(tuple(np.random.default_rng(1).uniform(-2, 2, transform.GetNumberOfParameters())))
    return BSplineTransform(transform)


AFFINE = AffineTransform(np.array([[1.02, 0.05, 0], [-0.04, 0.98, 0.02], [0.01, 0, 1.01]]), (4.0, -3.0, 2.5))


@pytest.mark.parametrize("suffix", [".tfm", ".txt", ".h5", ".mat"])
def test_affine_round_trip(tmp_path, suffix):
    path = write_transform(AFFINE, tmp_path / f"t{suffix}")
    back = read_transform(path)
    np.testing.assert_allclose(back.transform_points(POINTS), AFFINE.transform_points(POINTS), atol=1e-6)


@pytest.mark.parametrize("suffix", [".tfm", ".h5"])
def test_bspline_composite_round_trip(tmp_path, suffix):
    composite = CompositeTransform([_bspline(), AFFINE])
    back = read_transform(write_transform(composite, tmp_path / f"c{suffix}"))
    np.testing.assert_allclose(back.transform_points(POINTS), composite.transform_points(POINTS), atol=1e-5)


def test_field_composite_needs_h5_and_round_trips(tmp_path):
    field = to_displacement_field(_bspline(), Geometry((30, 30, 30), (2.0, 2.0, 2.0), (0, 0, 0)))
    composite = CompositeTransform([field, AFFINE])
    with pytest.raises(InputMismatchError, match="h5"):
        write_transform(composite, tmp_path / "c.tfm")
    back = read_transform(write_transform(composite, tmp_path / "c.h5"))
    np.testing.assert_allclose(back.transform_points(POINTS), composite.transform_points(POINTS), atol=1e-5)


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
def test_displacement_field_image_round_trip(tmp_path, suffix):
    geometry = Geometry((20, 24, 28), (1.5, 1.0, 2.0), (-10, 5, 3), np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]))
    field = to_displacement_field(CompositeTransform([_bspline(), AFFINE]), geometry)
    back = read_displacement_field(write_displacement_field(field, tmp_path / f"u{suffix}"))
    assert back.geometry.same_as(field.geometry, 1e-4)
    np.testing.assert_allclose(back.displacement, field.displacement, atol=1e-4)  # stored as float32
    assert isinstance(read_transform(tmp_path / f"u{suffix}"), type(back))


def test_bad_transform_files(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_transform(tmp_path / "missing.tfm")
    junk = tmp_path / "junk.tfm"
    junk.write_text("this is not a transform\n")
    with pytest.raises(ImageReadError, match="junk.tfm"):
        read_transform(junk)
