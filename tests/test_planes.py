"""Display planes and the slice scene: the physical-space maths under the linked views."""

import numpy as np
import pytest

from regviewer.core import compose
from regviewer.core.image import Geometry, Image
from regviewer.core.planes import DisplaySpace
from regviewer.core.resample import resample_image
from regviewer.core.scene import Scene
from regviewer.core.transforms import AffineTransform, CompositeTransform
from tests.helpers import rotation, smooth_random_field

LIA = np.array([[1.0, 0, 0], [0, 0, -1], [0, -1, 0]])  # FreeSurfer's conformed orientation, in LPS


def _volume(shape=(20, 24, 28), spacing=(1.0, 1.5, 2.0), origin=(3.0, -5.0, 7.0), direction=None, seed=0):
    rng = np.random.default_rng(seed)
    return Image.from_array(rng.random(shape).astype(np.float32), spacing=spacing, origin=origin, direction=direction)


def test_identity_planes_follow_radiological_convention():
    space = DisplaySpace(_volume().geometry)
    axial, coronal, sagittal = (space.axes(p) for p in ("axial", "coronal", "sagittal"))
    assert (axial.normal, axial.col, axial.row, axial.flip_x, axial.y_down) == (2, 0, 1, False, True)
    assert (coronal.normal, coronal.col, coronal.row, coronal.y_down) == (1, 0, 2, False)
    assert (sagittal.normal, sagittal.col, sagittal.row, sagittal.y_down) == (0, 1, 2, False)


def test_lia_volume_gets_anatomical_planes():
    space = DisplaySpace(_volume(direction=LIA).geometry)
    assert space.axes("axial").normal == 1  # the index axis running inferior
    assert space.axes("coronal").normal == 2  # the index axis running anterior
    assert space.axes("sagittal").normal == 0
    axial = space.axes("axial")
    assert axial.col == 0 and axial.row == 2 and axial.y_down is False  # anterior (row axis) drawn up


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_scene_round_trip(plane):
    space = DisplaySpace(_volume(direction=rotation((10, -5, 20))).geometry)
    point = np.array([4.0, -2.0, 9.0])
    x, y = space.scene_point(plane, point)
    assert np.allclose(space.point_from_scene(plane, x, y, point), point)


def test_two_d_images_have_only_the_axial_plane():
    image = Image.from_array(np.zeros((30, 40), np.float32), spacing=(0.5, 2.0))
    space = DisplaySpace(image.geometry)
    assert space.planes == ("axial",)
    assert space.scene_point("axial", [1.0, 4.0]) == (1.0, 4.0)


def test_display_grid_of_a_tilted_image_covers_it():
    fixed = _volume()
    tilted = Geometry((10, 12, 14), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0), rotation((0, 0, 30)))
    grid = DisplaySpace(fixed.geometry).grid_for(tilted)
    assert grid.resampled
    low, high = tilted.bounds_mm()
    grid_low, grid_high = grid.geometry.bounds_mm()
    assert np.all(grid_low <= low + 2.0) and np.all(grid_high >= high - 2.0)


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_warped_slice_equals_full_resample(plane):
    fixed = _volume(spacing=(1.0, 1.5, 2.0))
    moving = _volume(shape=(18, 26, 30), spacing=(1.2, 1.1, 1.8), origin=(0.0, -8.0, 4.0), seed=1)
    field = smooth_random_field(fixed.geometry, 3.0, coarse_mm=8.0, seed=2)
    transform = CompositeTransform([AffineTransform(rotation((4, -3, 6)), np.array([1.5, -2.0, 0.5])), field])
    scene = Scene()
    scene.set_images(fixed, moving, transform=transform)
    full = resample_image(moving, fixed.geometry, transform).array
    axes = scene.space.axes(plane)
    for index in (0, 5, 11):
        q = np.zeros(3)
        q[axes.normal] = index * fixed.spacing[axes.normal]
        point = scene.space.to_physical(q)
        warped, grid = scene.slice("warped", plane, point)
        expected = grid.take(full[np.newaxis] if full.ndim == 2 else full, axes, index)
        assert np.allclose(warped, expected, atol=1e-5)


def test_moving_layer_on_its_own_grid_is_the_array():
    fixed, moving = _volume(), _volume(shape=(9, 10, 11), spacing=(3.0, 3.0, 3.0), origin=(-4, 2, 1), seed=3)
    scene = Scene()
    scene.set_images(fixed, moving)
    point = moving.index_to_physical(np.array([4.0, 5.0, 6.0]))
    array, grid = scene.slice("moving", "axial", point)
    assert not grid.resampled
    assert np.array_equal(array, moving.array[6])
    assert scene.voxel_index("moving", point) == (4, 5, 6)
    assert scene.value("moving", point) == pytest.approx(float(moving.array[6, 5, 4]))


def test_scene_refuses_mixed_dimensions_and_keeps_content():
    scene = Scene()
    fixed = _volume()
    scene.set_images(fixed, fixed)
    with pytest.raises(Exception, match="same dimension"):
        scene.replace(moving=Image.from_array(np.zeros((5, 5), np.float32)))
    assert scene.moving is fixed


def test_checkerboard_alternates_tiles():
    first, second = np.zeros((8, 8), np.float32), np.ones((8, 8), np.float32)
    board = compose.checkerboard(first, second, (4, 4))
    assert board[0, 0] == 0 and board[0, 4] == 1 and board[4, 0] == 1 and board[4, 4] == 0
    assert board[:4, :4].sum() == 0 and board[:4, 4:].min() == 1


def test_window_presets_and_normalise():
    array = np.linspace(-2000, 2000, 4001).astype(np.float32)
    lung = compose.preset_window("CT lung", array)
    assert (lung.window, lung.level) == (1500, -600)
    shown = compose.normalise(array, lung)
    assert shown.min() == 0 and shown.max() == 1
    auto = compose.auto_window(array)
    assert auto.low == pytest.approx(-1980, abs=1) and auto.high == pytest.approx(1980, abs=1)
    assert compose.difference(np.ones(3, np.float32), np.zeros(3, np.float32)).tolist() == [1, 1, 1]
