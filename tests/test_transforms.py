"""Transforms: direction (fixed -> moving), inverses, SimpleITK round trips, composites."""

import numpy as np
import pytest
import SimpleITK as sitk

from regviewer.core.image import Geometry
from regviewer.core.transforms import (
    AffineTransform,
    BSplineTransform,
    CompositeTransform,
    DisplacementFieldTransform,
    to_displacement_field,
    transform_from_sitk,
)


def _rotation_3d(degrees_xyz):
    ax, ay, az = np.radians(degrees_xyz)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.fixture
def affine3d():
    return AffineTransform(_rotation_3d((4, -3, 7)) @ np.diag([1.05, 0.97, 1.02]), (3.0, -2.0, 5.5))


def _smooth_bspline(ndim=3, seed=0, amplitude=3.0):
    reference = sitk.Image([40] * ndim, sitk.sitkFloat32)
    reference.SetSpacing([2.0] * ndim)
    bspline = sitk.BSplineTransformInitializer(reference, [4] * ndim)
    rng = np.random.default_rng(seed)
    bspline.SetParameters(tuple(rng.uniform(-amplitude, amplitude, bspline.GetNumberOfParameters())))
    return bspline


def test_affine_matches_sitk_and_inverse(affine3d):
    points = np.random.default_rng(1).uniform(-50, 50, (20, 3))
    sitk_transform = affine3d.to_sitk()
    expected = np.array([sitk_transform.TransformPoint(tuple(p)) for p in points])
    np.testing.assert_allclose(affine3d.transform_points(points), expected, atol=1e-9)
    np.testing.assert_allclose(
        affine3d.inverse().transform_points(affine3d.transform_points(points)), points, atol=1e-9
    )


def test_linear_sitk_transforms_convert_exactly():
    euler = sitk.Euler3DTransform((10, -5, 3), 0.1, -0.05, 0.2, (1, 2, 3))
    converted = transform_from_sitk(euler)
    assert isinstance(converted, AffineTransform)
    points = np.random.default_rng(2).uniform(-30, 30, (10, 3))
    np.testing.assert_allclose(
        converted.transform_points(points), [euler.TransformPoint(tuple(p)) for p in points], atol=1e-9
    )


def test_composite_applies_in_listed_order_and_matches_sitk(affine3d):
    bspline = BSplineTransform(_smooth_bspline())
    composite = CompositeTransform([bspline, affine3d])
    points = np.random.default_rng(3).uniform(10, 60, (15, 3))
    np.testing.assert_allclose(
        composite.transform_points(points), affine3d.transform_points(bspline.transform_points(points)), atol=1e-9
    )
    sitk_composite = composite.to_sitk()
    np.testing.assert_allclose(
        composite.transform_points(points), [sitk_composite.TransformPoint(tuple(p)) for p in points], atol=1e-6
    )
    back = transform_from_sitk(sitk_composite)
    np.testing.assert_allclose(back.transform_points(points), composite.transform_points(points), atol=1e-6)


def test_linear_chain_simplifies_to_one_affine(affine3d):
    other = AffineTransform(np.eye(3) * 1.1, (1, 1, 1))
    sitk_chain = CompositeTransform([affine3d, other]).to_sitk()
    converted = transform_from_sitk(sitk_chain)
    assert isinstance(converted, AffineTransform)
    point = np.array([5.0, -7.0, 12.0])
    np.testing.assert_allclose(
        converted.transform_points(point), other.transform_points(affine3d.transform_points(point))
    )


def test_newton_inverse_of_composite_points(affine3d):
    composite = CompositeTransform([BSplineTransform(_smooth_bspline()), affine3d])
    fixed_points = np.random.default_rng(4).uniform(15, 60, (25, 3))
    moving_points = composite.transform_points(fixed_points)
    np.testing.assert_allclose(composite.inverse_transform_points(moving_points), fixed_points, atol=1e-3)


def test_displacement_field_sampling_and_numerical_inverse():
    bspline = BSplineTransform(_smooth_bspline(amplitude=2.0))
    geometry = Geometry((40, 40, 40), (2.0, 2.0, 2.0), (0, 0, 0))
    field = to_displacement_field(bspline, geometry)
    inside = np.random.default_rng(5).uniform(10, 68, (30, 3))
    np.testing.assert_allclose(field.transform_points(inside), bspline.transform_points(inside), atol=0.05)
    inverse = field.inverse()
    round_trip = inverse.transform_points(field.transform_points(inside))
    assert np.max(np.linalg.norm(round_trip - inside, axis=1)) < 0.1
    outside = np.array([[-50.0, -50.0, -50.0]])
    np.testing.assert_allclose(field.transform_points(outside), outside)  # outside the grid: not moved


def test_points_inverse_of_a_strongly_compressing_field_converges():
    # T'(x) falls to 0.1 near the grid's edge: plain Newton steps from there leave the grid, where the
    # field is the identity, and the next step lands exactly back on the start (it did, for the TRE of
    # a network's field on the prostate pairs, which then read as the identity's TRE).
    n = 24
    x = np.arange(n, dtype=float)
    displacement = np.zeros((n, n, 2))
    displacement[..., 0] = -2.0 * np.tanh((x[None, :] - 3) / 2)
    field = DisplacementFieldTransform(displacement, Geometry((n, n), (1.0, 1.0), (0.0, 0.0)))
    fixed_points = np.stack([np.linspace(1, 22, 43), np.full(43, 10.0)], axis=1)
    moving_points = field.transform_points(fixed_points)
    solved = field.inverse_transform_points(moving_points)
    np.testing.assert_allclose(field.transform_points(solved), moving_points, atol=1e-3)


def test_displacement_field_matches_sitk_transform_2d():
    rng = np.random.default_rng(6)
    geometry = Geometry((30, 40), (1.5, 0.8), (5.0, -3.0), [[0.8, -0.6], [0.6, 0.8]])
    field = DisplacementFieldTransform(rng.normal(0, 1, (30, 40, 2)), geometry)
    sitk_transform = field.to_sitk()
    points = geometry.index_to_physical(rng.uniform(1, 28, (20, 2)))
    np.testing.assert_allclose(
        field.transform_points(points), [sitk_transform.TransformPoint(tuple(p)) for p in points], atol=1e-6
    )
