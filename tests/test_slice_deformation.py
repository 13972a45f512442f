"""Slice overlays maths (core): vectorised mapping, slice Jacobian vs the volume, grid lines, contours, agreement."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from regviewer.core import deformation
from regviewer.core.fast_points import inverse_points, map_points
from regviewer.core.image import Geometry
from regviewer.core.planes import DisplaySpace
from regviewer.core.slice_deformation import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    TRUE_POSITIVE,
    _rowwise_isolines,
    arrows,
    grid_lines,
    isolines,
    label_agreement,
    label_contours,
    mapped_slice,
    slice_jacobian,
    slice_points,
    to_scene,
)
from regviewer.core.transforms import (
    AffineTransform,
    BSplineTransform,
    CompositeTransform,
    DisplacementFieldTransform,
    to_displacement_field,
)
from tests.helpers import rotation

GEOMETRY = Geometry((18, 22, 20), (2.0, 1.5, 2.5), (-20.0, -16.0, -22.0), np.eye(3))


def bspline(
    geometry: Geometry, amplitude: float = 3.0, direction: np.ndarray | None = None, seed: int = 3
) -> BSplineTransform:
    """A smooth random B-spline over ``geometry`` (control grid direction optional: oblique = no fast path)."""
    image = sitk.Image([int(n) for n in geometry.size], sitk.sitkFloat32)
    geometry.apply_to_sitk(image)
    if direction is not None:
        image.SetDirection(tuple(direction.ravel()))
    transform = sitk.BSplineTransformInitializer(image, [4] * geometry.ndim)
    rng = np.random.default_rng(seed)
    transform.SetParameters(tuple(rng.normal(0, amplitude, transform.GetNumberOfParameters())))
    return BSplineTransform(transform)


def fixed_space(geometry: Geometry = GEOMETRY):
    space = DisplaySpace(geometry)
    return space, space.grid_for(geometry)


def test_vectorised_mapping_equals_itk_for_bsplines_fields_and_chains():
    rng = np.random.default_rng(0)
    points = rng.uniform(-40, 40, (500, 3))
    oblique = bspline(GEOMETRY, direction=rotation((5, -10, 20)))
    field = to_displacement_field(bspline(GEOMETRY, seed=5), GEOMETRY)
    affine = AffineTransform(rotation((3, 4, 5)) * 1.05, (2.0, -1.0, 4.0))
    for transform in (bspline(GEOMETRY), oblique, CompositeTransform([bspline(GEOMETRY), affine])):
        np.testing.assert_allclose(map_points(transform, points), transform.transform_points(points), atol=1e-9)
    # Fields: the same inside the voxel centres (the views' rule, like ITK's, also keeps the half voxel beyond).
    inside = rng.uniform(-15.0, 14.0, (500, 3))
    np.testing.assert_allclose(map_points(field, inside), field.transform_points(inside), atol=1e-9)
    flat = Geometry((30, 26), (1.0, 1.5), (-10.0, -12.0), rotation(10))
    points_2d = rng.uniform(-20, 30, (300, 2))
    np.testing.assert_allclose(
        map_points(bspline(flat), points_2d), bspline(flat).transform_points(points_2d), atol=1e-9
    )


def test_inverse_points_undo_a_smooth_transform():
    transform = CompositeTransform(
        [bspline(GEOMETRY, 1.5), AffineTransform(rotation((4, -3, 5)) * 1.02, (5.0, -4.0, 3.0))]
    )
    fixed_points = np.random.default_rng(1).uniform(-15, 15, (400, 3))
    found, converged = inverse_points(transform, transform.transform_points(fixed_points))
    assert converged.all()
    np.testing.assert_allclose(found, fixed_points, atol=5e-3)


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_identity_jacobian_is_one_and_uniform_scaling_gives_s_cubed(plane):
    space, grid = fixed_space()
    axes = space.axes(plane)
    np.testing.assert_allclose(slice_jacobian(None, grid, axes, 4), 1.0)
    scale = 1.3
    affine = AffineTransform(np.eye(3) * scale, (1.0, 2.0, 3.0))
    np.testing.assert_allclose(slice_jacobian(affine, grid, axes, 4), scale**3)
    # The same scaling as a dense field takes the finite-difference path: still s^3, borders included.
    field = DisplacementFieldTransform((scale - 1) * GEOMETRY.voxel_centres_mm(), GEOMETRY)
    for index in (0, 5, grid.geometry.size[axes.normal] - 1):
        np.testing.assert_allclose(slice_jacobian(field, grid, axes, index), scale**3, rtol=1e-9)


def test_2d_scaling_gives_s_squared():
    flat = Geometry((30, 26), (1.0, 1.5), (-10.0, -12.0), np.eye(2))
    space = DisplaySpace(flat)
    field = DisplacementFieldTransform(0.5 * flat.voxel_centres_mm(), flat)
    det = slice_jacobian(field, space.grid_for(flat), space.axes("axial"), 0, ndim=2)
    assert det.shape == (30, 26)
    np.testing.assert_allclose(det, 1.5**2)


@pytest.mark.parametrize("oblique", [False, True])
def test_slice_jacobian_equals_the_volume_jacobian_for_a_smooth_bspline(oblique):
    transform = bspline(GEOMETRY, 4.0, direction=rotation((0, 0, 15)) if oblique else None)
    field = to_displacement_field(transform, GEOMETRY)
    volume = deformation.jacobian_determinant(field.displacement, GEOMETRY)
    space, grid = fixed_space()
    for plane in ("axial", "coronal", "sagittal"):
        axes = space.axes(plane)
        for index in (0, 7, grid.geometry.size[axes.normal] - 1):
            np.testing.assert_allclose(
                slice_jacobian(transform, grid, axes, index), grid.take(volume, axes, index), atol=1e-6
            )


def folding_field(geometry: Geometry, centre_index=(10, 11, 9), strength: float = 3.0) -> DisplacementFieldTransform:
    """u_x = -strength * (x - c) * gaussian: d(x + u_x)/dx = 1 - strength < 0 at the centre, a fold there."""
    points = geometry.voxel_centres_mm()
    centre = geometry.index_to_physical(np.array(centre_index, dtype=float))
    offset = points - centre
    weight = np.exp(-np.sum((offset / np.array([3.0, 3.0, 3.0])) ** 2, axis=-1))
    displacement = np.zeros(points.shape)
    displacement[..., 0] = -strength * offset[..., 0] * weight
    return DisplacementFieldTransform(displacement, geometry)


def test_a_field_built_to_fold_folds_at_the_expected_voxels_in_slice_and_volume():
    geometry = Geometry((20, 24, 22), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    field = folding_field(geometry)
    volume = deformation.jacobian_determinant(field.displacement, geometry)
    assert volume[9, 11, 10] < 0  # the centre voxel (z, y, x)
    assert volume[0, 0, 0] == pytest.approx(1.0, abs=1e-6)
    space, grid = fixed_space(geometry)
    axes = space.axes("axial")
    det = slice_jacobian(field, grid, axes, 9)
    np.testing.assert_allclose(det, grid.take(volume, axes, 9), atol=1e-9)
    assert np.array_equal(det <= 0, grid.take(volume, axes, 9) <= 0) and (det <= 0).sum() > 0
    regions = deformation.fold_regions(volume, geometry)
    assert len(regions) == 1
    np.testing.assert_allclose(regions[0].centroid_mm, (10.0, 11.0, 9.0), atol=0.6)


def test_grid_lines_follow_a_translation_and_a_scaling():
    space, grid = fixed_space()
    axes = space.axes("axial")
    index = 6
    here = slice_points(grid, axes, index)
    shift = np.array([3.0, -2.0, 0.0])
    moved = mapped_slice(AffineTransform(np.eye(3), shift), grid, axes, index)
    np.testing.assert_allclose(moved, here + shift)
    lines = grid_lines(space.to_display(moved), axes, 10.0)
    assert lines
    for line in lines:
        scene = to_scene(grid, axes, line)
        q_moved = scene + (space.to_display(shift) - space.to_display(np.zeros(3)))[[axes.col, axes.row]]
        on_grid = np.min(np.abs(q_moved / 10.0 - np.round(q_moved / 10.0)), axis=1)
        assert np.max(on_grid) < 1e-6  # each point lies on a moving-space grid line, shifted back by -t
    # Moving view of T(x) = s x: lines of T^-1(y) = y / s every 10 mm are s * 10 mm apart on screen.
    scale = 1.5
    values = space.to_display(here)[..., axes.col] / scale
    lines = grid_lines(np.stack([values] * 3, axis=-1), axes, 10.0)
    columns = sorted({round(float(to_scene(grid, axes, line)[0, 0]), 6) for line in lines})
    assert np.allclose(np.diff(columns), scale * 10.0)


def test_contours_of_a_square_label_lie_on_its_border():
    labels = np.zeros((40, 50), dtype=np.uint8)
    labels[10:20, 15:25] = 7
    labels[30:40, 40:50] = 3  # touches the slice border: still outlined there
    labels[14:16, 25:28] = 4  # touches the square: the shared edge belongs to both outlines
    outlines = label_contours(labels)
    assert set(outlines) == {3, 4, 7}
    square = outlines[7]
    # Pixel edges: every end point at Chebyshev distance 5 from the square's centre (rows 9.5 .. 19.5).
    distance = np.max(np.abs(square.reshape(-1, 2) - (14.5, 19.5)), axis=1)
    np.testing.assert_allclose(distance, 5.0)
    lengths = np.linalg.norm(square[:, 1] - square[:, 0], axis=1)
    np.testing.assert_allclose(lengths, 1.0)
    assert len(square) == 40  # the whole perimeter, each unit edge once
    assert len(outlines[3]) == 40 and len(outlines[4]) == 2 * 2 + 2 * 3
    # Every edge of label 7 separates a label-7 pixel from a pixel of something else.
    for (r0, c0), (r1, c1) in square:
        if r0 == r1:  # horizontal edge at row r0 between pixels r0 - 0.5 and r0 + 0.5
            above, below = labels[int(r0 - 0.5), int(min(c0, c1) + 0.5)], labels[int(r0 + 0.5), int(min(c0, c1) + 0.5)]
            assert (above == 7) != (below == 7)
        else:
            left, right = labels[int(min(r0, r1) + 0.5), int(c0 - 0.5)], labels[int(min(r0, r1) + 0.5), int(c0 + 0.5)]
            assert (left == 7) != (right == 7)
    assert set(label_contours(labels, values=[7, 3])) == {3, 7}


def test_fast_grid_lines_match_marching_squares():
    """The vectorised row-crossing iso-lines lie on the same curves as skimage's find_contours."""
    from skimage.measure import find_contours

    space, grid = fixed_space()
    axes = space.axes("axial")
    moved = mapped_slice(bspline(GEOMETRY, 2.0), grid, axes, 8)
    values = space.to_display(moved)[..., axes.col]
    fast = isolines(values, 5.0)
    assert fast and _rowwise_isolines(values, 5.0) is not None  # the vectorised path was taken
    reference = np.concatenate([line for level in np.arange(-60, 60, 5.0) for line in find_contours(values, level)])
    for line in fast:
        distance = np.min(np.linalg.norm(line[:, None, :] - reference[None, :, :], axis=-1), axis=1)
        assert distance.max() < 1e-6


def test_label_agreement_classes():
    fixed = np.zeros((10, 10), dtype=np.int32)
    warped = np.zeros((10, 10), dtype=np.int32)
    fixed[2:6, 2:6] = 1
    warped[3:7, 2:6] = 1
    warped[8, 8] = 2
    classes = label_agreement(fixed, warped, 1)
    counts = np.bincount(classes.ravel(), minlength=4)
    assert (counts[TRUE_POSITIVE], counts[FALSE_POSITIVE], counts[FALSE_NEGATIVE]) == (12, 4, 4)
    counts = np.bincount(label_agreement(fixed, warped).ravel(), minlength=4)
    assert (counts[TRUE_POSITIVE], counts[FALSE_POSITIVE], counts[FALSE_NEGATIVE]) == (12, 5, 4)


def test_arrows_point_along_the_displacement():
    space, grid = fixed_space()
    axes = space.axes("axial")
    displacement = np.zeros(slice_points(grid, axes, 0).shape)
    displacement[..., axes.col] = 2.0
    starts, vectors = arrows(grid, axes, displacement, 5)
    assert len(starts) == len(range(2, displacement.shape[0], 5)) * len(range(2, displacement.shape[1], 5))
    np.testing.assert_allclose(vectors, [[2.0, 0.0]] * len(vectors))


def test_grid_lines_through_a_fold_fall_back_to_marching_squares():
    geometry = Geometry((20, 24, 22), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    field = folding_field(geometry, strength=4.0)
    space, grid = fixed_space(geometry)
    axes = space.axes("axial")
    coordinates = space.to_display(mapped_slice(field, grid, axes, 9))
    values = coordinates[..., axes.col]
    assert _rowwise_isolines(values, 2.0) is None  # a row crosses one level three times in the fold
    lines = grid_lines(coordinates, axes, 2.0)
    assert lines
    for line in isolines(values, 2.0):  # every point still on a level (linear interpolation between pixels)
        rows, cols = line[:, 0], line[:, 1]
        r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
        on_row = np.isclose(rows, r0)
        frac = cols[on_row] - c0[on_row]
        c1 = np.minimum(c0[on_row] + 1, values.shape[1] - 1)
        interpolated = values[r0[on_row], c0[on_row]] * (1 - frac) + values[r0[on_row], c1] * frac
        np.testing.assert_allclose(interpolated / 2.0, np.round(interpolated / 2.0), atol=1e-6)
