"""Colour pictures: RGB kept for display, a chosen channel registered, a field-of-view mask, colour
comparison views, all on a real fundus photograph (skimage.data.retina()) with a known warp."""

from __future__ import annotations

import numpy as np
import pytest
from fundus import write_fundus_pair

from regviewer.core import compose
from regviewer.core.colour import LUMINANCE, field_of_view_mask, registration_channel
from regviewer.core.errors import InvalidImageError
from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.core.scene import Scene


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    fixed_path, moving_path, truth = write_fundus_pair(tmp_path_factory.mktemp("fundus"), 256)
    return read_image(fixed_path), read_image(moving_path), truth, fixed_path


def test_colour_pictures_keep_rgb_and_register_on_a_chosen_channel(pair):
    fixed, _, _, path = pair
    assert fixed.colour is not None and fixed.colour.shape == fixed.shape + (3,) and fixed.colour.dtype == np.uint8
    luminance = fixed.colour.astype(np.float64) @ LUMINANCE
    assert np.allclose(fixed.array, luminance, atol=0.01)  # registered on luminance by default
    green = read_image(path, channel=1)
    assert np.array_equal(green.array, fixed.colour[..., 1]) and green.colour is not None
    assert np.array_equal(registration_channel(fixed, "green").array, fixed.colour[..., 1])
    assert read_image(path, channel=0, is_label=True).colour is None
    with pytest.raises(InvalidImageError, match="unknown colour channel"):
        registration_channel(fixed, "purple")
    with pytest.raises(InvalidImageError, match="colour shape"):
        Image(np.zeros((4, 5)), fixed.geometry.__class__((4, 5), (1, 1), (0, 0)), colour=np.zeros((4, 5, 4)))


def test_field_of_view_mask_excludes_the_dark_border(pair):
    fixed = pair[0]
    mask = field_of_view_mask(fixed)
    assert mask.is_label and set(np.unique(mask.array)) == {0, 1}
    assert mask.array[128, 128] == 1 and mask.array[2, 2] == 0 and mask.array[2, 253] == 0
    inside = fixed.colour[mask.array == 1].mean()
    outside = fixed.colour[mask.array == 0].mean()
    assert 0.6 < mask.array.mean() < 0.85 and inside > 4 * outside


def test_scene_gives_colour_slices_warped_through_the_transform(pair):
    fixed, moving, truth, _ = pair
    scene = Scene()
    scene.set_images(fixed=fixed, moving=moving, transform=truth)
    assert scene.has("fixed_colour") and scene.has("warped_colour")
    centre = scene.centre_mm()
    rgb, _ = scene.slice("fixed_colour", "axial", centre)
    warped, _ = scene.slice("warped_colour", "axial", centre)
    assert rgb.shape == fixed.shape + (3,) and 0 <= rgb.min() and rgb.max() <= 1
    mask = field_of_view_mask(fixed, erode_px=12).array.astype(bool)
    error = np.abs(warped - rgb)[mask].mean()
    unwarped = np.abs(scene.slice("moving_colour", "axial", centre)[0] - rgb)[mask].mean()
    assert error < 0.25 * unwarped  # the true transform brings the colour moving picture onto the fixed one
    board = compose.checkerboard(rgb, compose.as_rgb(np.zeros(fixed.shape, np.float32)), (32, 32))
    assert board.shape == rgb.shape and np.array_equal(board[0, 0], rgb[0, 0]) and not board[0, 40].any()
    assert compose.swipe(rgb, warped, 100)[:, :100].tolist() == rgb[:, :100].tolist()
