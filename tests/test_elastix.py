"""elastix engines (itk-elastix): known transforms in 2D and 3D, Dice on a 3D pair, progress, cancel,
masks, landmarks and parameter files. Needs the [elastix] extra (itk-elastix); ITK's first import is slow."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import about_centre, foreground_points, max_error_mm, moving_for, rotation, smooth_random_field

from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.core.metrics import dice_per_label, ncc
from regviewer.core.progress import CancelToken
from regviewer.core.resample import resample_image
from regviewer.core.transforms import CompositeTransform
from regviewer.registration.base import Request
from regviewer.registration.elastix_maps import POINTS_METRIC, build_map
from regviewer.registration.pipeline import Stage, run_chain
from regviewer.registration.presets import get_preset
from regviewer.registration.registry import get_method

pytest.importorskip("itk")


@pytest.fixture(scope="module")
def r16(shared_data):
    from regviewer.registration.elastix import load_itk

    load_itk()  # the slow first import, once for the module
    return read_image(shared_data / "brain2d" / "r16slice.jpg")


def _half_resolution(image: Image) -> Image:
    kind = sitk.sitkNearestNeighbor if image.is_label else sitk.sitkLinear
    source = image.to_sitk() if image.is_label else sitk.Cast(image.to_sitk(), sitk.sitkFloat32)
    size = [int(n) // 3 for n in source.GetSize()]
    origin = source.TransformContinuousIndexToPhysicalPoint([1.0] * 3)
    resampled = sitk.Resample(source, size, sitk.Transform(), kind, origin, [3.0] * 3, source.GetDirection(), 0)
    return Image.from_sitk(resampled, name=image.name, is_label=image.is_label)


@pytest.fixture(scope="module")
def brain(shared_data):
    npz = shared_data / "brain3d" / "test_scan.npz"
    labels = np.load(shared_data / "brain3d" / "labels.npz")["labels"].astype(int).tolist()
    return _half_resolution(read_image(npz)), _half_resolution(read_image(npz, is_label=True)), labels


def test_importing_regviewer_engines_does_not_import_itk():
    import subprocess

    code = "import regviewer.registration.registry as r, sys; r.default_registry(); import regviewer.registration.elastix; print('itk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_elastix_affine_recovers_known_affine_2d(r16):
    truth = about_centre(r16, rotation(-6.0) @ np.array([[1.08, 0.04], [0.0, 0.93]]), (-4.0, 6.0))
    events = []
    result = get_method("elastix-affine").run(Request(r16, moving_for(r16, truth)), events.append)
    error = max_error_mm(result.transform, truth, foreground_points(r16))
    print(f"elastix affine 2D: max error {error:.3f} mm, {len(result.metric_history)} iterations logged")
    assert result.status == "completed" and error < 0.5
    assert {event.level for event in events} == {0, 1, 2}  # progress from every resolution
    assert len(result.metric_history) == 3 * 256


def test_elastix_rigid_recovers_known_rigid_3d(brain):
    image, _, _ = brain
    truth = about_centre(image, rotation((4.0, -3.0, 6.0)), (5.0, -4.0, 3.0))
    result = run_chain([Stage("elastix-rigid", {"metric": "ncc"})], Request(image, moving_for(image, truth)))
    error = max_error_mm(result.transform, truth, foreground_points(image))
    print(f"elastix rigid 3D: max error {error:.3f} mm")
    assert error < 1.0


def test_elastix_bspline_preset_raises_dice_3d(brain):
    image, segmentation, labels = brain
    truth = CompositeTransform(
        [
            smooth_random_field(image.geometry, 4.0, seed=3),
            about_centre(image, rotation((3.0, -2.0, 4.0)) @ np.diag([1.03, 0.97, 1.02]), (3.0, -2.0, 2.0)),
        ]
    )
    moving = resample_image(image, image.geometry, truth.inverse())
    moving_labels = resample_image(segmentation, image.geometry, truth.inverse(), "label")
    stages = [Stage(s.method, {**s.parameters, "iterations": 100}) for s in get_preset("elastix-bspline").stages]
    result = run_chain(stages, Request(image, moving))

    def mean_dice(transform):
        warped = resample_image(moving_labels, image.geometry, transform, "label").array
        return float(np.mean(list(dice_per_label(segmentation.array, warped, labels).values())))

    before, after = mean_dice(None), mean_dice(result.transform)
    print(f"elastix-bspline: Dice (30 labels) {before:.3f} -> {after:.3f} in {result.runtime_s:.1f} s")
    assert after > before + 0.15 and after > 0.75


def test_elastix_bspline_improves_inter_subject_2d_with_the_affine_first(shared_data, r16):
    r64 = read_image(shared_data / "brain2d" / "r64slice.jpg")
    result = run_chain(get_preset("elastix-bspline").stages, Request(r16, r64))
    affine = run_chain(get_preset("elastix-affine").stages, Request(r16, r64))
    scores = [
        ncc(r16.array, resample_image(r64, r16.geometry, t).array) for t in (None, affine.transform, result.transform)
    ]
    print("NCC identity / elastix affine / elastix B-spline:", np.round(scores, 4))
    assert scores[2] > scores[1] + 0.01 and scores[1] > scores[0] + 0.1
    assert isinstance(result.transform, CompositeTransform)


def test_cancel_returns_within_a_second(r16):
    truth = about_centre(r16, rotation(5.0), (3.0, -2.0))
    token = CancelToken()
    seen = threading.Event()
    cancelled_at: list[float] = []

    def progress(event):
        if not seen.is_set():
            seen.set()
            cancelled_at.append(time.perf_counter())
            token.cancel()

    parameters = {"iterations": 5000, "resolutions": 2, "grid_spacing_mm": 8.0, "samples": 20000}
    result = get_method("elastix-bspline").run(Request(r16, moving_for(r16, truth), parameters), progress, token)
    delay = time.perf_counter() - cancelled_at[0]
    print(f"cancel honoured after {delay:.3f} s")
    assert result.status == "cancelled" and delay < 1.0


def test_masks_landmarks_and_a_parameter_file_are_used(tmp_path, r16):
    truth = about_centre(r16, rotation(4.0), (5.0, -3.0))
    moving = moving_for(r16, truth)
    mask = r16.with_array((r16.array > np.percentile(r16.array, 30)).astype(np.uint8), is_label=True)
    fixed_points = foreground_points(r16, 12, seed=4)
    moving_points = truth.transform_points(fixed_points)
    parameter_file = tmp_path / "short.txt"
    parameter_file.write_text(
        '(Transform "AffineTransform")\n(MaximumNumberOfIterations 40)\n(NumberOfResolutions 2)\n'
        '(Optimizer "AdaptiveStochasticGradientDescent")\n(Metric "AdvancedMeanSquares")\n'
    )
    method = get_method("elastix-affine")
    request = Request(
        r16,
        moving,
        {"parameter_file": str(parameter_file), "metric": "mi"},
        fixed_mask=mask,
        moving_mask=mask,
        fixed_landmarks=fixed_points,
        moving_landmarks=moving_points,
    )
    result = method.run(request)
    error = max_error_mm(result.transform, truth, foreground_points(r16))
    levels = {level for _, level, _, _ in result.metric_history}
    print(f"elastix affine with file + masks + landmarks: max error {error:.3f} mm, levels {levels}")
    assert levels == {0, 1} and len(result.metric_history) == 2 * 40  # the file's schedule, not the defaults
    assert error < 1.0
    values = {p.name: p.default for p in method.parameters}
    built = build_map("affine", {**values, "parameter_file": str(parameter_file), "metric": "mi"}, values, True)
    assert built["Metric"] == ["AdvancedMattesMutualInformation", POINTS_METRIC]  # the form's change wins
    assert built["MaximumNumberOfIterations"] == ["40"]  # the file keeps what the form did not change


def test_a_broken_parameter_file_is_a_clear_error(tmp_path, r16):
    from regviewer.core.errors import RegViewerError

    bad = tmp_path / "bad.txt"
    bad.write_text('(Transform "NoSuchTransform")\n(Metric "AdvancedMeanSquares")\n')
    with pytest.raises(RegViewerError, match="elastix affine failed"):
        get_method("elastix-affine").run(Request(r16, r16, {"parameter_file": str(bad)}))
