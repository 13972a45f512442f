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


# ---- registering on a chosen channel, and the preset's automatic field-of-view mask ----------------
def _session(fixed, moving, **masks):
    from regviewer.app.run_session import RunSession
    from regviewer.app.workspace import Workspace

    workspace = Workspace()
    workspace.set_content(fixed=fixed, moving=moving, **masks)
    return RunSession(workspace)


def _errors(pair, transform):
    """Error in px of ``transform`` against the truth at points well inside the field of view."""
    fixed, _, truth, _ = pair
    inside = np.argwhere(field_of_view_mask(fixed, erode_px=20).array > 0)
    chosen = inside[np.random.default_rng(0).choice(len(inside), 300, replace=False)]
    points = fixed.index_to_physical(chosen[:, ::-1].astype(float))
    return np.linalg.norm(transform.transform_points(points) - truth.transform_points(points), axis=1)


def test_run_session_registers_the_chosen_channel_and_records_it(pair):
    from regviewer.app.run_history import RunRecord
    from regviewer.app.run_session import RunPlan
    from regviewer.registration.pipeline import Stage

    fixed, moving, _, _ = pair
    session = _session(fixed, moving)
    prepared = session.prepare(RunPlan((Stage("affine"),), channel="green"))
    assert np.array_equal(prepared.request.fixed.array, fixed.colour[..., 1])
    assert np.array_equal(prepared.request.moving.array, moving.colour[..., 1])
    assert prepared.request.fixed.colour is fixed.colour  # still shown in colour
    assert prepared.record.images == (fixed, moving)  # the record belongs to the images shown
    assert prepared.record.channel == "green" and "Registered on: green" in prepared.record.details()
    restored = RunRecord.from_snapshot(prepared.record.snapshot())
    assert restored.channel == "green"  # saved with the session's run history
    luminance = session.prepare(RunPlan((Stage("affine"),), channel="luminance")).request.fixed
    assert np.array_equal(luminance.array, fixed.array)  # the same numbers as reading the picture
    as_loaded = session.prepare(RunPlan((Stage("affine"),)))
    assert as_loaded.request.fixed is fixed and as_loaded.record.channel is None
    grey = Image(fixed.array.copy(), fixed.geometry)
    grey_run = _session(grey, grey).prepare(RunPlan((Stage("affine"),), channel="green"))
    assert grey_run.request.fixed is grey and grey_run.record.channel is None  # grey images ignore it
    with pytest.raises(InvalidImageError, match="unknown colour channel"):
        session.prepare(RunPlan((Stage("affine"),), channel="purple"))


def test_retina_preset_asks_for_the_field_of_view_mask_a_given_mask_wins(pair, tmp_path):
    from regviewer.app.run_session import RunPlan
    from regviewer.core.errors import RegViewerError
    from regviewer.registration.presets import get_preset, load_preset_file

    fixed, moving, _, _ = pair
    preset = get_preset("retina-2d")
    assert preset.mask == "fov" and get_preset("affine").mask is None
    plan = RunPlan(preset.stages, preset="retina-2d", auto_mask=preset.mask)
    prepared = _session(fixed, moving).prepare(plan)
    for mask, image in ((prepared.request.fixed_mask, fixed), (prepared.request.moving_mask, moving)):
        assert mask is not None and mask.is_label and mask.shape == image.shape
        disc = mask.array.astype(bool)
        assert disc[128, 128] and not disc[0, 0] and not disc[0, -1] and not disc[-1, 0] and not disc[-1, -1]
        assert image.colour[disc].mean() > 4 * image.colour[~disc].mean()  # the bright disc, not the border
    assert prepared.evaluation.fixed_mask is prepared.request.fixed_mask
    assert prepared.record.auto_mask == "fov" and "field of view" in prepared.record.mask_label
    given = Image(np.ones(fixed.shape, np.uint8), fixed.geometry, is_label=True)
    mine = _session(fixed, moving, fixed_mask=given).prepare(
        RunPlan(preset.stages, mask_roles=("fixed",), auto_mask="fov", mask_label="my mask")
    )
    assert mine.request.fixed_mask is given and mine.request.moving_mask is not None  # the user's mask wins
    assert mine.record.mask_label.startswith("my mask; field of view of the moving image")
    bad = tmp_path / "bad.json"
    bad.write_text('{"mask": "brain", "stages": [{"method": "affine"}]}')
    with pytest.raises(RegViewerError, match="unknown mask 'brain'"):
        load_preset_file(bad)


def test_retina_preset_with_its_field_of_view_mask_is_not_worse_than_without(pair):
    from regviewer.app.run_session import RunPlan
    from regviewer.core.progress import CancelToken
    from regviewer.core.transforms import AffineTransform
    from regviewer.registration.presets import get_preset

    fixed, moving, _, _ = pair
    preset = get_preset("retina-2d")
    start = _errors(pair, AffineTransform.identity(2)).mean()
    means = {}
    for auto_mask in ("fov", None):
        session = _session(fixed, moving)
        prepared = session.prepare(RunPlan(preset.stages, auto_mask=auto_mask, channel="green"))
        result = session.run(prepared, lambda event: None, CancelToken())
        assert result.status == "completed", result.message
        means[auto_mask] = _errors(pair, result.transform).mean()
    assert means["fov"] < 0.1 * start  # recovers the known warp (start: about 7 px at 256 px)
    assert means["fov"] <= means[None] + 0.02, means  # the mask does not make it worse
