"""Classical engines on real 2D images: known transforms, inter-subject pairs, multi-modal MI."""

import numpy as np
import pytest
from helpers import about_centre, foreground_points, max_error_mm, moving_for, rotation
from scipy.ndimage import distance_transform_edt

from regviewer.core.io import read_image
from regviewer.core.metrics import dice_per_label, ncc
from regviewer.core.progress import CancelToken
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, BSplineTransform, CompositeTransform
from regviewer.registration.base import Request
from regviewer.registration.pipeline import Stage, run_chain
from regviewer.registration.presets import get_preset
from regviewer.registration.registry import get_method


@pytest.fixture(scope="module")
def r16(shared_data):
    return read_image(shared_data / "brain2d" / "r16slice.jpg")


def test_recovers_known_rigid_2d(r16):
    truth = about_centre(r16, rotation(9.0), (7.0, -5.0))
    result = get_method("rigid").run(Request(r16, moving_for(r16, truth), {"metric": "mse"}))
    assert result.status == "completed"
    points = foreground_points(r16)
    error = max_error_mm(result.transform, truth, points)
    angle_error = abs(result.transform.rotation_angle_deg() - truth.rotation_angle_deg())
    print(f"rigid 2D: max error {error:.3f} mm, angle error {angle_error:.3f} deg")
    assert error < 0.5 and angle_error < 0.2


def test_recovers_known_affine_2d(r16):
    truth = about_centre(r16, rotation(-6.0) @ np.array([[1.08, 0.04], [0.0, 0.93]]), (-4.0, 6.0))
    result = run_chain([Stage("affine", {"metric": "ncc"})], Request(r16, moving_for(r16, truth)))
    error = max_error_mm(result.transform, truth, foreground_points(r16))
    print(f"affine 2D: max error {error:.3f} mm")
    assert error < 0.75


def test_bspline_improves_inter_subject_ncc(shared_data, r16):
    r64 = read_image(shared_data / "brain2d" / "r64slice.jpg")
    request = Request(r16, r64)
    affine = run_chain([Stage("affine")], request)
    deformable = run_chain(get_preset("deformable").stages, request)
    scores = [
        ncc(r16.array, resample_image(r64, r16.geometry, t).array)
        for t in (None, affine.transform, deformable.transform)
    ]
    print("NCC identity / affine / B-spline:", np.round(scores, 4))
    assert scores[2] > scores[1] + 0.003 and scores[1] > scores[0] + 0.2
    assert isinstance(deformable.transform, CompositeTransform)
    assert isinstance(deformable.transform.transforms[0], BSplineTransform)


def _mean_curve_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean distance (pixels = mm here) between two thin curves."""
    return 0.5 * (distance_transform_edt(~b)[a].mean() + distance_transform_edt(~a)[b].mean())


def test_bspline_brings_landmark_curves_together(shared_data, r16):
    # The hand-drawn r16 / r85 curves do not follow the same anatomy (they stay about 13 mm apart on
    # average even after a good intensity registration: ANTs uses them as extra point-set constraints),
    # so HD95 is meaningless here. What must hold: the mean distance over both curves goes down and
    # neither curve moves away.
    r85 = read_image(shared_data / "brain2d" / "r85slice.jpg")
    curves16 = read_image(shared_data / "brain2d" / "r16sliceLM.nii.gz", is_label=True)
    curves85 = read_image(shared_data / "brain2d" / "r85sliceLM.nii.gz", is_label=True)
    result = run_chain(get_preset("deformable").stages, Request(r16, r85))
    before, after = [], []
    for label in (1, 2):
        distances = [
            _mean_curve_distance(
                curves16.array == label, resample_image(curves85, r16.geometry, t, "label").array == label
            )
            for t in (None, result.transform)
        ]
        print(f"curve {label}: mean distance {distances[0]:.2f} -> {distances[1]:.2f} mm")
        before.append(distances[0])
        after.append(distances[1])
        assert distances[1] < distances[0] + 0.1
    assert np.mean(after) < np.mean(before) - 0.2


def test_mutual_information_aligns_different_contrasts(shared_data):
    folder = shared_data / "multimodal2d"
    fixed = read_image(folder / "CT_2D_head_fixed.mha")
    fixed_mask = read_image(folder / "CT_2D_head_fixed_mask.mha", is_label=True)
    moving0 = read_image(folder / "CT_2D_head_moving.mha")
    mask0 = read_image(folder / "CT_2D_head_moving_mask.mha", is_label=True)
    shift = about_centre(moving0, rotation(12.0), (9.0, -6.0))  # start the pair clearly misaligned
    moving, moving_mask = moving_for(moving0, shift), moving_for(mask0, shift)

    def mask_dice(transform):
        warped = resample_image(moving_mask, fixed.geometry, transform, "label").array
        return dice_per_label(fixed_mask.array > 0, warped > 0, [1])[1]

    chain = [Stage("rigid"), Stage("affine")]
    with_mi = run_chain([Stage(s.method, {"metric": "mi"}) for s in chain], Request(fixed, moving))
    with_mse = run_chain([Stage(s.method, {"metric": "mse"}) for s in chain], Request(fixed, moving))
    scores = mask_dice(None), mask_dice(with_mi.transform), mask_dice(with_mse.transform)
    print("mask Dice before / MI / MSE:", np.round(scores, 4))
    assert scores[1] > 0.96 and scores[1] > scores[0] + 0.04
    assert scores[2] < scores[1] - 0.03


def test_progress_in_order_and_cancel_keeps_last_transform(r16):
    truth = about_centre(r16, rotation(8.0), (6.0, 4.0))
    moving = moving_for(r16, truth)
    token = CancelToken()
    events = []

    def progress(event):
        events.append(event)
        if sum(e.metric is not None for e in events) == 12:
            token.cancel()

    result = get_method("affine").run(Request(r16, moving, {"metric": "mse"}), progress, token)
    iterations = [e for e in events if e.metric is not None]
    assert result.status == "cancelled" and "cancel" in result.message
    assert len(iterations) == 12  # stopped at the very next iteration
    levels = [e.level for e in events]
    assert levels == sorted(levels)
    assert isinstance(result.transform, AffineTransform)
    # the last transform is kept: closer to the truth than the start
    points = foreground_points(r16)
    start = get_method("affine").run(
        Request(r16, moving, {"metric": "mse", "iterations": 1, "shrink_factors": (4,), "smoothing_sigmas": (2,)})
    )
    assert max_error_mm(result.transform, truth, points) < max_error_mm(AffineTransform.identity(2), truth, points)
    assert start.status == "completed"


def test_chain_stops_at_cancelled_stage(r16):
    token = CancelToken()
    token.cancel()
    result = run_chain(get_preset("rigid-affine-bspline").stages, Request(r16, r16), cancel=token)
    assert result.status == "cancelled" and result.method == "rigid,affine,bspline"
    assert len(result.parameters["stages"]) == 1


@pytest.mark.parametrize("method", ["bspline", "demons"])
def test_deformable_cancel_stops_at_the_next_iteration(r16, shared_data, capfd, method):
    # L-BFGS2 ignores SimpleITK's StopRegistration() and later levels would still run: cancelling must
    # unwind at once anyway, keep the last transform, and print nothing.
    r64 = read_image(shared_data / "brain2d" / "r64slice.jpg")
    token = CancelToken()
    iterations = []

    def progress(event):
        if event.metric is not None:
            iterations.append(event)
            if len(iterations) == 3:
                token.cancel()

    result = get_method(method).run(Request(r16, r64), progress, token)
    assert result.status == "cancelled"
    assert len(iterations) == 3 and len(result.metric_history) == 3
    assert result.transform.ndim == 2
    assert capfd.readouterr().err == ""
