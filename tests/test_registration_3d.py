"""Classical engines on the real 3D brain (brain3d, resampled to 2 mm to keep the suite fast)."""

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import about_centre, foreground_points, max_error_mm, moving_for, rotation, smooth_random_field

from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.core.metrics import dice_per_label
from regviewer.core.resample import resample_image
from regviewer.core.transforms import CompositeTransform
from regviewer.registration.base import Request
from regviewer.registration.pipeline import Stage, run_chain
from regviewer.registration.presets import get_preset

pytestmark = pytest.mark.slow


def _half_resolution(image: Image) -> Image:
    kind = sitk.sitkNearestNeighbor if image.is_label else sitk.sitkLinear
    source = image.to_sitk() if image.is_label else sitk.Cast(image.to_sitk(), sitk.sitkFloat32)
    size = [int(n) // 2 for n in source.GetSize()]
    origin = source.TransformContinuousIndexToPhysicalPoint([0.5] * 3)
    resampled = sitk.Resample(source, size, sitk.Transform(), kind, origin, [2.0] * 3, source.GetDirection(), 0)
    return Image.from_sitk(resampled, name=image.name, is_label=image.is_label)


@pytest.fixture(scope="module")
def brain(shared_data):
    npz = shared_data / "brain3d" / "test_scan.npz"
    labels = np.load(shared_data / "brain3d" / "labels.npz")["labels"].astype(int).tolist()
    return _half_resolution(read_image(npz)), _half_resolution(read_image(npz, is_label=True)), labels


def test_recovers_known_rigid_3d(brain):
    image, _, _ = brain
    truth = about_centre(image, rotation((4.0, -3.0, 6.0)), (5.0, -4.0, 3.0))
    result = run_chain([Stage("rigid", {"metric": "mse"})], Request(image, moving_for(image, truth)))
    error = max_error_mm(result.transform, truth, foreground_points(image))
    angle = abs(result.transform.rotation_angle_deg() - truth.rotation_angle_deg())
    print(f"rigid 3D: max error {error:.3f} mm, angle error {angle:.3f} deg")
    assert error < 1.0 and angle < 0.3


def test_recovers_known_affine_3d(brain):
    image, _, _ = brain
    truth = about_centre(image, rotation((-3.0, 4.0, 2.0)) @ np.diag([1.05, 0.96, 1.03]), (-4.0, 3.0, 5.0))
    result = run_chain([Stage("affine", {"metric": "ncc"})], Request(image, moving_for(image, truth)))
    error = max_error_mm(result.transform, truth, foreground_points(image))
    print(f"affine 3D: max error {error:.3f} mm")
    assert error < 1.0


@pytest.mark.parametrize("preset", ["deformable", "deformable-demons"])
def test_deformable_raises_dice_over_30_labels(brain, preset):
    image, segmentation, labels = brain
    truth = CompositeTransform(
        [
            smooth_random_field(image.geometry, 4.0, seed=3),
            about_centre(image, rotation((3.0, -2.0, 4.0)) @ np.diag([1.03, 0.97, 1.02]), (3.0, -2.0, 2.0)),
        ]
    )
    moving = resample_image(image, image.geometry, truth.inverse())
    moving_labels = resample_image(segmentation, image.geometry, truth.inverse(), "label")
    result = run_chain(get_preset(preset).stages, Request(image, moving))

    def mean_dice(transform):
        warped = resample_image(moving_labels, image.geometry, transform, "label").array
        return float(np.mean(list(dice_per_label(segmentation.array, warped, labels).values())))

    before, after = mean_dice(None), mean_dice(result.transform)
    print(f"{preset}: Dice (30 labels) {before:.3f} -> {after:.3f} in {result.runtime_s:.1f} s")
    assert after > before + 0.2 and after > 0.8
