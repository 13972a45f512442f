"""Tests of regviewer.core.deformation: Jacobian determinant in physical space, folds, magnitude."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from regviewer.core import deformation
from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry


def rotation(ndim: int, angles: tuple[float, ...]) -> np.ndarray:
    """An oblique orthonormal direction matrix (2D: one angle, 3D: rotations about z, y, x)."""
    if ndim == 2:
        c, s = math.cos(angles[0]), math.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    matrix = np.eye(3)
    for axis, angle in zip((2, 1, 0), angles):
        c, s = math.cos(angle), math.sin(angle)
        i, j = [k for k in range(3) if k != axis]
        step = np.eye(3)
        step[i, i], step[i, j], step[j, i], step[j, j] = c, -s, s, c
        matrix = matrix @ step
    return matrix


GEOMETRY_3D = Geometry(
    shape=(9, 11, 13), spacing=(0.7, 1.3, 2.1), origin=(-12.0, 30.0, 5.5), direction=rotation(3, (0.3, -0.5, 0.9))
)
GEOMETRY_2D = Geometry(shape=(14, 17), spacing=(0.6, 1.7), origin=(4.0, -3.0), direction=rotation(2, (0.7,)))


def affine_field(geometry: Geometry, matrix: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """u(p) = (A - I)(p - c): the map p -> p + u(p) is the affine A about c, whose det is det(A)."""
    points = geometry.voxel_centres_mm()
    return (points - centre) @ (matrix - np.eye(geometry.ndim)).T


@pytest.mark.parametrize("geometry", [GEOMETRY_3D, GEOMETRY_2D], ids=["3d", "2d"])
def test_identity_field_has_unit_determinant(geometry: Geometry) -> None:
    field = np.zeros(geometry.shape + (geometry.ndim,), dtype=np.float32)
    det = deformation.jacobian_determinant(field, geometry)
    assert det.shape == geometry.shape and det.dtype == np.float64
    np.testing.assert_array_equal(det, 1.0)


@pytest.mark.parametrize("geometry", [GEOMETRY_3D, GEOMETRY_2D], ids=["3d", "2d"])
def test_uniform_scaling_gives_s_to_the_ndim(geometry: Geometry) -> None:
    scale = 1.15
    field = affine_field(geometry, scale * np.eye(geometry.ndim), centre=np.full(geometry.ndim, 3.0))
    det = deformation.jacobian_determinant(field, geometry)
    np.testing.assert_allclose(det, scale**geometry.ndim, rtol=1e-12)  # linear field: exact at borders too


@pytest.mark.parametrize("geometry", [GEOMETRY_3D, GEOMETRY_2D], ids=["3d", "2d"])
def test_general_affine_gives_its_determinant_for_oblique_anisotropic_grids(geometry: Geometry) -> None:
    rng = np.random.default_rng(4)
    matrix = np.eye(geometry.ndim) + rng.uniform(-0.3, 0.3, size=(geometry.ndim, geometry.ndim))
    field = affine_field(geometry, matrix, centre=rng.normal(size=geometry.ndim) * 10)
    det = deformation.jacobian_determinant(field, geometry)
    np.testing.assert_allclose(det, np.linalg.det(matrix), rtol=1e-10)
    # Reversing the component order (z, y, x) is a classic bug; it must not pass silently.
    swapped = deformation.jacobian_determinant(field[..., ::-1], geometry)
    assert not np.allclose(swapped, np.linalg.det(matrix), rtol=1e-3)


def test_matches_simpleitk_on_a_smooth_random_field() -> None:
    geometry = Geometry(shape=(20, 24, 28), spacing=(1.2, 0.8, 1.5), origin=(3.0, -7.0, 11.0))
    rng = np.random.default_rng(0)
    field = np.stack([ndimage.gaussian_filter(rng.normal(size=geometry.shape), 3.0) * 8.0 for _ in range(3)], axis=-1)
    image = sitk.GetImageFromArray(field, isVector=True)
    geometry.apply_to_sitk(image)
    expected = sitk.GetArrayFromImage(sitk.DisplacementFieldJacobianDeterminant(image, True))
    det = deformation.jacobian_determinant(field, geometry)
    assert det.std() > 0.05  # the field really deforms
    interior = (slice(1, -1),) * 3
    np.testing.assert_allclose(det[interior], expected[interior], atol=1e-6)  # agrees to ~1e-15


def folding_field(geometry: Geometry) -> tuple[np.ndarray, tuple[slice, ...], tuple[slice, ...]]:
    """A field along index axis i (physical direction D[:, 0]) with two local ramps of slope -3.

    u(p) = D[:, 0] * r(i) * w(j, k), where r falls by 3 * spacing_x per voxel over a ramp of
    indices and w is a box; then det = 1 + r'(i) w / spacing_x = -2 inside the ramps (-0.5 at their
    end voxels, where central differences halve the slope) and exactly 1 elsewhere.
    """
    nz, ny, nx = geometry.shape
    spacing_x = geometry.spacing[0]
    field = np.zeros(geometry.shape + (3,))
    big = (slice(3, 9), slice(4, 12), slice(5, 15))  # numpy order z, y, x: 6 x 8 x 10 voxels
    small = (slice(12, 14), slice(2, 4), slice(20, 23))  # 2 x 2 x 3 voxels
    for box in (big, small):
        x0, x1 = box[2].start, box[2].stop - 1
        ramp = -3.0 * spacing_x * (np.clip(np.arange(nx), x0, x1) - x0)
        weight = np.zeros((nz, ny, 1))
        weight[box[0], box[1]] = 1.0
        field += (ramp * weight)[..., None] * geometry.direction[:, 0]
    return field, big, small


def test_folds_are_found_exactly_where_built_with_their_centroids() -> None:
    direction = rotation(3, (0.4, 0.2, -0.6))
    geometry = Geometry(shape=(16, 16, 26), spacing=(0.5, 1.25, 2.0), origin=(10.0, -20.0, 35.0), direction=direction)
    field, big, small = folding_field(geometry)
    det = deformation.jacobian_determinant(field, geometry)
    expected = np.zeros(geometry.shape, dtype=bool)
    expected[big] = expected[small] = True
    np.testing.assert_array_equal(det <= 0, expected)
    np.testing.assert_allclose(det[~expected], 1.0, atol=1e-9)

    stats = deformation.jacobian_stats(det)
    assert stats["folded_count"] == 6 * 8 * 10 + 2 * 2 * 3
    assert stats["folded_pct"] == pytest.approx(100.0 * stats["folded_count"] / det.size)
    assert stats["jacobian_min"] == pytest.approx(-2.0) and stats["jacobian_max"] == pytest.approx(1.0)

    regions = deformation.fold_regions(det, geometry)
    assert [region.voxel_count for region in regions] == [480, 12]
    for region, box in zip(regions, (big, small)):
        centre_xyz = [(s.start + s.stop - 1) / 2 for s in box[::-1]]
        assert region.centroid_index_xyz == pytest.approx(centre_xyz)
        assert region.centroid_mm == pytest.approx(tuple(geometry.index_to_physical(centre_xyz)))
        assert region.bbox_min_index_xyz == tuple(s.start for s in box[::-1])
        assert region.bbox_max_index_xyz == tuple(s.stop - 1 for s in box[::-1])
        assert region.array_slices == box
        assert region.min_jacobian == pytest.approx(-2.0)

    mask = np.zeros(geometry.shape, dtype=bool)
    mask[10:] = True  # keeps only the small fold
    assert [region.voxel_count for region in deformation.fold_regions(det, geometry, mask)] == [12]
    assert deformation.jacobian_stats(det, mask)["folded_count"] == 12
    assert deformation.fold_regions(np.ones(geometry.shape), geometry) == []


def test_jacobian_stats_values() -> None:
    det = np.array([[-1.0, 0.0, 1.0, math.e, 1.0 / math.e]])
    stats = deformation.jacobian_stats(det)
    assert stats == {
        "jacobian_min": -1.0,
        "jacobian_max": pytest.approx(math.e),
        "folded_pct": 40.0,
        "folded_count": 2,
        "std_log_jacobian": pytest.approx(math.sqrt(2.0 / 3.0)),
    }
    assert math.isnan(deformation.jacobian_stats(np.array([[-1.0, 0.0]]))["std_log_jacobian"])


def test_displacement_magnitude_and_shape_errors() -> None:
    field = np.zeros((2, 3, 4, 3))
    field[..., 0], field[..., 1] = 3.0, -4.0
    np.testing.assert_allclose(deformation.displacement_magnitude(field), 5.0)
    assert deformation.displacement_magnitude(np.ones((5, 6, 2))).shape == (5, 6)
    with pytest.raises(InputMismatchError):
        deformation.jacobian_determinant(np.zeros((9, 11, 13, 2)), GEOMETRY_3D)
    with pytest.raises(InputMismatchError):
        deformation.displacement_magnitude(np.zeros((5, 6, 3)))
