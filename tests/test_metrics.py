"""Tests of regviewer.core.metrics: intensity metrics, masks, Dice / HD95 per label, TRE."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from regviewer.core import metrics
from regviewer.core.errors import InputMismatchError, InvalidImageError


@pytest.fixture(scope="module")
def brain3d(shared_data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vol, seg) in (z, y, x) order and the 30 scored labels (the shared_data fixture fails if absent)."""
    folder = shared_data / "brain3d"
    scan = np.load(folder / "test_scan.npz")
    labels = np.load(folder / "labels.npz")["labels"]
    return scan["vol"].transpose(2, 1, 0), scan["seg"].transpose(2, 1, 0), labels


def smooth_image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(size=shape), 2.0) * 100.0 + 50.0


# ---- intensity metrics -----------------------------------------------------------------------
def test_identical_images_score_perfectly() -> None:
    image = smooth_image((12, 20, 24))
    assert metrics.mse(image, image) == 0.0
    assert metrics.mae(image, image) == 0.0
    assert metrics.rmse(image, image) == 0.0
    assert metrics.ncc(image, image) == pytest.approx(1.0)
    assert metrics.lncc(image, image, radius=2) == pytest.approx(1.0)
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    assert metrics.nmi(image, image) == pytest.approx(2.0)  # the maximum of (H(a)+H(b))/H(a,b)
    other = smooth_image((12, 20, 24), seed=1)
    assert metrics.nmi(image, other) < metrics.nmi(image, image)
    assert metrics.mutual_information(image, image) > metrics.mutual_information(image, other)


def test_known_differences() -> None:
    fixed = np.zeros((4, 5))
    warped = fixed.copy()
    warped[0, :] = 2.0  # 5 of 20 pixels differ by 2
    assert metrics.mse(fixed, warped) == pytest.approx(4 * 5 / 20)
    assert metrics.mae(fixed, warped) == pytest.approx(2 * 5 / 20)
    assert metrics.rmse(fixed, warped) == pytest.approx(1.0)


def test_ncc_and_lncc_invariant_to_linear_intensity_changes() -> None:
    fixed = smooth_image((10, 16, 18))
    warped = smooth_image((10, 16, 18), seed=3) + 0.5 * fixed
    reference = metrics.ncc(fixed, warped)
    assert 0.1 < reference < 0.99
    assert metrics.ncc(fixed, 3.0 * warped + 7.0) == pytest.approx(reference, abs=1e-12)
    assert metrics.ncc(fixed, -2.0 * warped + 1.0) == pytest.approx(-reference, abs=1e-12)
    assert metrics.lncc(fixed, 3.0 * warped + 7.0) == pytest.approx(metrics.lncc(fixed, warped), abs=1e-9)
    assert metrics.ncc(fixed, np.full(fixed.shape, 4.0)) == 0.0  # undefined -> 0


def test_mutual_information_prefers_aligned_images_across_contrasts(brain3d) -> None:
    vol, _, _ = brain3d
    fixed = np.ascontiguousarray(vol[:, :, 80])  # one real slice
    other_contrast = np.sqrt(fixed) * 3.0 + 1.0  # monotone intensity change, a new "modality"
    shifted = np.roll(other_contrast, 4, axis=1)
    assert metrics.mutual_information(fixed, other_contrast) > metrics.mutual_information(fixed, shifted)
    assert metrics.nmi(fixed, other_contrast) > metrics.nmi(fixed, shifted)
    assert metrics.mutual_information(fixed, shifted, bins=16) > 0.0


def test_masked_metrics_ignore_outside_voxels() -> None:
    fixed = smooth_image((12, 18, 20))
    warped = 0.8 * fixed + smooth_image((12, 18, 20), seed=5) * 0.3
    mask = np.zeros(fixed.shape, dtype=bool)
    mask[2:10, 3:15, 4:17] = True
    rng = np.random.default_rng(7)
    fixed_b, warped_b = fixed.copy(), warped.copy()
    fixed_b[~mask] = rng.normal(size=(~mask).sum()) * 1000.0
    warped_b[~mask] = -5000.0
    for name in ("mse", "mae", "rmse", "ncc", "lncc", "mutual_information", "nmi", "ssim"):
        function = getattr(metrics, name)
        unmasked = function(fixed, warped)
        masked = function(fixed, warped, mask=mask)
        assert function(fixed_b, warped_b, mask=mask) == pytest.approx(masked, rel=1e-9, abs=1e-12), name
        assert function(fixed_b, warped_b) != pytest.approx(unmasked, rel=1e-3), name
    assert metrics.image_metrics(fixed_b, warped_b, mask) == pytest.approx(metrics.image_metrics(fixed, warped, mask))


def test_ssim_full_mask_equals_unmasked_and_handles_thin_images() -> None:
    fixed = smooth_image((9, 16, 16))
    warped = np.roll(fixed, 1, axis=2)
    full = np.ones(fixed.shape, dtype=bool)
    assert metrics.ssim(fixed, warped, mask=full) == pytest.approx(metrics.ssim(fixed, warped))
    assert metrics.ssim(fixed[:1], fixed[:1]) == pytest.approx(1.0)  # (1, y, x): a 2D slice in a 3D array
    assert metrics.ssim(fixed[:3], warped[:3]) < 1.0  # window shrinks to 3


def test_image_metrics_keys_types_and_errors() -> None:
    fixed = smooth_image((8, 12, 14))
    result = metrics.image_metrics(fixed, fixed + 1.0)
    assert tuple(result) == metrics.IMAGE_METRIC_KEYS
    assert all(type(value) is float for value in result.values())
    assert result["mae"] == pytest.approx(1.0) and result["ncc"] == pytest.approx(1.0)
    json.dumps(result, allow_nan=False)
    with pytest.raises(InputMismatchError):
        metrics.mse(fixed, fixed[:-1])
    with pytest.raises(InputMismatchError):
        metrics.ncc(fixed, fixed, mask=np.zeros(fixed.shape, dtype=bool))


# ---- labels ----------------------------------------------------------------------------------
def test_dice_of_a_shifted_cube_is_analytic() -> None:
    fixed = np.zeros((20, 20, 30), dtype=np.int16)
    fixed[5:15, 5:15, 5:15] = 3  # 10-voxel cube
    fixed[1:3, 1:3, 20:25] = 8  # absent from the warped map
    warped = np.zeros_like(fixed)
    warped[5:15, 5:15, 8:18] = 3  # shifted by 3 along x: overlap 7/10
    warped[16:18, 16:18, 16:18] = 11  # only in warped: not scored by default
    dice = metrics.dice_per_label(fixed, warped)
    assert dice == {3: pytest.approx(2 * 700 / 2000), 8: 0.0}
    explicit = metrics.dice_per_label(fixed, warped, labels=[3, 11, 42])
    assert explicit[11] == 0.0 and math.isnan(explicit[42])
    assert metrics.finite_mean(explicit) == pytest.approx((0.7 + 0.0) / 2)
    with pytest.raises(InvalidImageError):
        metrics.dice_per_label(fixed + 0.5, warped)


def sphere(shape: tuple[int, int, int], spacing_zyx: tuple[float, ...], radius_mm: float) -> np.ndarray:
    grids = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing_zyx)], indexing="ij")
    return sum(g**2 for g in grids) <= radius_mm**2


def test_hd95_of_concentric_spheres_is_the_radius_difference_with_anisotropic_spacing() -> None:
    spacing_zyx = (1.5, 1.0, 0.6)
    shape = (25, 37, 61)  # about 36 mm along every axis
    fixed = sphere(shape, spacing_zyx, 14.0).astype(np.uint8)
    warped = sphere(shape, spacing_zyx, 8.0).astype(np.uint8)
    hd95 = metrics.hd95_per_label(fixed, warped, spacing_zyx)
    assert list(hd95) == [1]
    assert hd95[1] == pytest.approx(6.0, abs=1.0)  # voxelisation error < coarsest spacing
    wrong_order = metrics.hd95_per_label(fixed, warped, spacing_zyx[::-1])[1]
    assert abs(wrong_order - 6.0) > abs(hd95[1] - 6.0)
    assert metrics.hd95_per_label(fixed, fixed, spacing_zyx) == {1: 0.0}


def test_hd95_on_cropped_boxes_equals_whole_image_computation() -> None:
    rng = np.random.default_rng(2)
    spacing = np.array([2.0, 0.9, 1.1])
    fixed = (ndimage.gaussian_filter(rng.normal(size=(18, 30, 26)), 2.5) > 0.05).astype(np.int32)
    warped = np.roll(fixed, (1, -2, 3), axis=(0, 1, 2))
    fixed[0, :5, :5] = 5  # touches the array border
    warped[0, 2:6, 1:4] = 5
    for label in (1, 5):
        expected = metrics._hausdorff_percentile(fixed == label, warped == label, spacing, 95.0)
        assert metrics.hd95_per_label(fixed, warped, spacing, labels=[label])[label] == pytest.approx(expected)


def test_hd95_of_missing_labels_and_finite_mean() -> None:
    fixed = np.zeros((10, 10, 10), dtype=np.uint8)
    fixed[2:5, 2:5, 2:5] = 1
    fixed[6:9, 6:9, 6:9] = 2
    warped = np.where(fixed == 1, 1, 0)
    hd95 = metrics.hd95_per_label(fixed, warped, (1.0, 1.0, 1.0), labels=[1, 2, 3])
    assert hd95[1] == 0.0 and math.isinf(hd95[2]) and math.isnan(hd95[3])
    assert metrics.finite_mean(hd95) == 0.0
    assert math.isnan(metrics.finite_mean([math.inf, math.nan]))


def test_real_segmentation_identical_dice_is_one_for_the_30_labels(brain3d) -> None:
    _, seg, labels = brain3d
    dice = metrics.dice_per_label(seg, seg, labels)
    assert sorted(dice) == sorted(int(v) for v in labels) and len(dice) == 30
    assert all(value == 1.0 for value in dice.values())


def test_label_metrics_on_a_shifted_real_segmentation(brain3d) -> None:
    _, seg, labels = brain3d
    fixed = np.ascontiguousarray(seg[::2, ::2, ::2]).astype(np.int32)  # 2 mm grid keeps the test fast
    warped = np.roll(fixed, 1, axis=2)  # 1 voxel = 2 mm along x
    result = metrics.label_metrics(fixed, warped, (2.0, 2.0, 2.0), labels)
    assert set(result) == {"dice", "dice_mean", "hd95_mm", "hd95_mean_mm"}
    assert set(result["dice"]) == {str(int(v)) for v in labels}
    assert 0.3 < result["dice_mean"] < 0.95
    assert all(value == pytest.approx(2.0) for value in result["hd95_mm"].values())  # a pure shift
    assert result["hd95_mean_mm"] == pytest.approx(2.0)
    json.dumps(result, allow_nan=False)


# ---- landmarks -------------------------------------------------------------------------------
def test_tre_per_pair_and_summary() -> None:
    fixed = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [5.0, 0.0, 0.0]])
    carried = np.array([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0], [np.nan, np.nan, np.nan]])
    distances = metrics.tre(fixed, carried)
    assert distances[:2] == pytest.approx([5.0, 0.0]) and math.isnan(distances[2])
    inactive = metrics.tre(fixed, carried, active=[False, True, True])
    assert math.isnan(inactive[0])
    summary = metrics.tre_summary(distances)
    assert summary == {"tre_mean_mm": 2.5, "tre_median_mm": 2.5, "tre_std_mm": 2.5, "tre_max_mm": 5.0, "tre_count": 2.0}
    with pytest.raises(InputMismatchError):
        metrics.tre(fixed, carried[:2])
