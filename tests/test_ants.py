"""ANTs engines (antspyx): ANTs' own warped image equals ours through its transforms read back (rotated
grids: LPS and direction handled), known affine in 2D and 3D, Dice on a 3D pair, chains, progress, cancel."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import about_centre, foreground_points, max_error_mm, moving_for, rotation, smooth_random_field

from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.metrics import dice_per_label
from regviewer.core.progress import CancelToken
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, CompositeTransform
from regviewer.registration.base import Request
from regviewer.registration.pipeline import run_chain
from regviewer.registration.presets import get_preset
from regviewer.registration.registry import get_method

ants = pytest.importorskip("ants")


@pytest.fixture(scope="module")
def r16(shared_data):
    return read_image(shared_data / "brain2d" / "r16slice.jpg")


def _half_resolution(image: Image) -> Image:
    """brain3d at 3 mm (small and fast)."""
    kind = sitk.sitkNearestNeighbor if image.is_label else sitk.sitkLinear
    source = image.to_sitk() if image.is_label else sitk.Cast(image.to_sitk(), sitk.sitkFloat32)
    origin = source.TransformContinuousIndexToPhysicalPoint([1.0] * 3)
    resampled = sitk.Resample(
        source,
        [int(n) // 3 for n in source.GetSize()],
        sitk.Transform(),
        kind,
        origin,
        [3.0] * 3,
        source.GetDirection(),
        0,
    )
    return Image.from_sitk(resampled, name=image.name, is_label=image.is_label)


@pytest.fixture(scope="module")
def brain(shared_data):
    npz = shared_data / "brain3d" / "test_scan.npz"
    labels = np.load(shared_data / "brain3d" / "labels.npz")["labels"].astype(int).tolist()
    return _half_resolution(read_image(npz)), _half_resolution(read_image(npz, is_label=True)), labels


def test_ants_forward_transforms_read_back_as_the_map_ants_warps_with(tmp_path, shared_data, r16):
    from regviewer.registration.ants import ants_image

    r64 = read_image(shared_data / "brain2d" / "r64slice.jpg")
    angle = math.radians(20)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    fixed = Image(r16.array.astype(np.float32), Geometry(r16.geometry.shape, (0.9, 1.2), (-30.0, 12.5), turn))
    moving = Image(r64.array.astype(np.float32), Geometry(r64.geometry.shape, (1.0, 1.1), (-20.0, 5.5), turn.T))
    result = ants.registration(
        ants_image(ants, fixed),
        ants_image(ants, moving),
        type_of_transform="SyN",
        outprefix=str(tmp_path / "t_"),
        reg_iterations=(20, 10, 0),
    )
    reference = result["warpedmovout"].numpy().T
    transform = CompositeTransform([read_transform(name) for name in result["fwdtransforms"]])
    mine = resample_image(moving, fixed.geometry, transform, "linear").array
    difference = np.abs(reference - mine) / float(np.ptp(moving.array))
    print(f"ANTs warpedmovout vs RegViewer through the read-back transforms: max {difference.max():.2e} of the range")
    assert difference.max() < 1e-3


def test_ants_affine_recovers_known_affine_2d(r16):
    truth = about_centre(r16, rotation(-6.0) @ np.array([[1.08, 0.04], [0.0, 0.93]]), (-4.0, 6.0))
    events = []
    result = get_method("ants-affine").run(
        Request(r16, moving_for(r16, truth), {"metric": "meansquares"}), events.append
    )
    error = max_error_mm(result.transform, truth, foreground_points(r16))
    print(
        f"ANTs affine 2D: max error {error:.3f} mm, {len(result.metric_history)} iterations, {len(events)} progress events"
    )
    assert result.status == "completed" and isinstance(result.transform, AffineTransform)
    assert error < 0.5
    assert len(result.metric_history) > 20 and {level for _, level, _, _ in result.metric_history} == {0, 1, 2, 3}


def test_ants_rigid_recovers_known_rigid_3d(brain):
    image, _, _ = brain
    truth = about_centre(image, rotation((4.0, -3.0, 6.0)), (5.0, -4.0, 3.0))
    result = get_method("ants-rigid").run(Request(image, moving_for(image, truth), {"iterations": "200,100,50,10"}))
    error = max_error_mm(result.transform, truth, foreground_points(image))
    print(f"ANTs rigid 3D: max error {error:.3f} mm")
    assert error < 1.0


def test_ants_syn_preset_raises_dice_3d_and_keeps_the_initial_affine(brain):
    image, segmentation, labels = brain
    truth = CompositeTransform(
        [
            smooth_random_field(image.geometry, 4.0, seed=3),
            about_centre(image, rotation((3.0, -2.0, 4.0)) @ np.diag([1.03, 0.97, 1.02]), (3.0, -2.0, 2.0)),
        ]
    )
    moving = resample_image(image, image.geometry, truth.inverse())
    moving_labels = resample_image(segmentation, image.geometry, truth.inverse(), "label")
    stages = get_preset("ants-syn").stages
    result = run_chain(stages, Request(image, moving))
    affine_only = run_chain(stages[:1], Request(image, moving))

    def mean_dice(transform):
        warped = resample_image(moving_labels, image.geometry, transform, "label").array
        return float(np.mean(list(dice_per_label(segmentation.array, warped, labels).values())))

    before, affine, after = mean_dice(None), mean_dice(affine_only.transform), mean_dice(result.transform)
    print(
        f"ants-syn preset: Dice (30 labels) {before:.3f} -> affine {affine:.3f} -> SyN {after:.3f} in {result.runtime_s:.1f} s"
    )
    assert after > affine + 0.03 and affine > before + 0.1 and after > 0.8


def test_synquick_and_cancel_within_a_second(r16, shared_data):
    r64 = read_image(shared_data / "brain2d" / "r64slice.jpg")
    quick = get_method("ants-synquick").run(Request(r16, r64))
    assert quick.status == "completed" and isinstance(quick.transform, CompositeTransform)
    token = CancelToken()
    at: list[float] = []

    def progress(event):
        if not at:
            at.append(time.perf_counter())
            token.cancel()

    result = get_method("ants-syn").run(Request(r16, r64, {"iterations": "2000,2000,2000"}), progress, token)
    delay = time.perf_counter() - at[0]
    print(f"ANTs cancel honoured after {delay:.3f} s")
    assert result.status == "cancelled" and delay < 1.0
