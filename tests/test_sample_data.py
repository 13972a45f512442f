"""The bundled sample data: files readable, grids that differ, a true transform that holds, and a
registration that improves Dice on the 3D pair."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from regviewer import paths
from regviewer.core.io import read_image
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.metrics import dice_per_label, ncc
from regviewer.core.resample import resample_image
from regviewer.registration.base import Request
from regviewer.registration.pipeline import Stage, run_chain

SAMPLE_FILES = (
    paths.SAMPLE_2D_FIXED,
    paths.SAMPLE_2D_MOVING,
    paths.SAMPLE_3D_FIXED,
    paths.SAMPLE_3D_MOVING,
    paths.SAMPLE_3D_FIXED_LABELS,
    paths.SAMPLE_3D_MOVING_LABELS,
    paths.SAMPLE_3D_TRUTH,
)


@pytest.fixture(scope="module")
def pair_3d():
    return (
        read_image(paths.SAMPLE_3D_FIXED),
        read_image(paths.SAMPLE_3D_MOVING),
        read_image(paths.SAMPLE_3D_FIXED_LABELS, is_label=True),
        read_image(paths.SAMPLE_3D_MOVING_LABELS, is_label=True),
    )


def _mean_dice(fixed_labels, moving_labels, transform) -> float:
    warped = resample_image(moving_labels, fixed_labels.geometry, transform, "label").array
    scored = [int(v) for v in np.unique(fixed_labels.array) if v != 0]
    return float(np.mean(list(dice_per_label(fixed_labels.array, warped, scored).values())))


def test_every_sample_file_exists_and_the_folder_is_small():
    missing = [str(path) for path in SAMPLE_FILES if not path.is_file()]
    assert missing == []
    folder_bytes = sum(path.stat().st_size for path in (paths.SAMPLE_DATA / "brain3d").iterdir())
    assert folder_bytes < 1_500_000
    for folder in ("brain2d", "brain3d"):
        assert any((paths.SAMPLE_DATA / folder).glob("LICENSE*")), f"{folder} has no licence file"


def test_2d_pair_reads_as_2d_grey_images():
    fixed, moving = read_image(paths.SAMPLE_2D_FIXED), read_image(paths.SAMPLE_2D_MOVING)
    assert fixed.ndim == moving.ndim == 2
    assert fixed.shape == moving.shape == (256, 256)
    assert fixed.value_range()[1] > 100 and moving.value_range()[1] > 100


def test_3d_pair_is_on_different_grids(pair_3d):
    fixed, moving, fixed_labels, moving_labels = pair_3d
    assert fixed.ndim == moving.ndim == 3
    assert fixed.array.dtype == moving.array.dtype == np.uint8
    assert fixed_labels.geometry.same_as(fixed.geometry) and moving_labels.geometry.same_as(moving.geometry)
    assert not np.allclose(fixed.spacing, moving.spacing)
    assert not np.allclose(fixed.origin, moving.origin, atol=1.0)
    assert np.allclose(fixed.direction, np.eye(3))
    tilt_deg = np.degrees(np.arccos(np.clip((np.trace(moving.direction) - 1) / 2, -1, 1)))
    assert 3.0 < tilt_deg < 20.0, tilt_deg
    assert np.allclose(moving.direction.T @ moving.direction, np.eye(3), atol=1e-5)


def test_3d_labels_are_the_freesurfer_segmentation(pair_3d):
    _, _, fixed_labels, moving_labels = pair_3d
    fixed_values = set(np.unique(fixed_labels.array).tolist())
    assert fixed_labels.is_label and moving_labels.is_label
    assert len(fixed_values) > 30 and {0, 2, 41, 17, 53}.issubset(fixed_values)
    assert set(np.unique(moving_labels.array).tolist()) <= fixed_values
    assert np.count_nonzero(moving_labels.array) > 0.5 * np.count_nonzero(fixed_labels.array) / (2.2 * 2.5 / 4)


def test_true_transform_brings_moving_onto_fixed(pair_3d):
    fixed, moving, fixed_labels, moving_labels = pair_3d
    truth = read_transform(paths.SAMPLE_3D_TRUTH)
    assert not truth.is_linear
    unregistered = resample_image(moving, fixed.geometry, None).array.astype(float)
    registered = resample_image(moving, fixed.geometry, truth).array.astype(float)
    before, after = ncc(fixed.array.astype(float), unregistered), ncc(fixed.array.astype(float), registered)
    assert before < 0.92 and after > 0.99, (before, after)
    dice_before, dice_after = (
        _mean_dice(fixed_labels, moving_labels, None),
        _mean_dice(fixed_labels, moving_labels, truth),
    )
    assert dice_before < 0.35 and dice_after > 0.7, (dice_before, dice_after)


def test_affine_registration_raises_dice_on_the_3d_pair(pair_3d):
    fixed, moving, fixed_labels, moving_labels = pair_3d
    result = run_chain([Stage("affine", {"metric": "mse"})], Request(fixed, moving))
    assert result.status == "completed"
    before, after = (
        _mean_dice(fixed_labels, moving_labels, None),
        _mean_dice(fixed_labels, moving_labels, result.transform),
    )
    print(f"sample 3D pair, affine: Dice {before:.3f} -> {after:.3f} in {result.runtime_s:.1f} s")
    assert after > before + 0.25 and after > 0.6


@pytest.mark.slow
def test_generator_reproduces_the_bundled_files(shared_data, tmp_path):
    script = paths.SAMPLE_DATA / "make_brain3d_sample.py"
    spec = importlib.util.spec_from_file_location("make_brain3d_sample", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(shared_data / "brain3d", tmp_path)
    for name in ("fixed.nii.gz", "moving.nii.gz", "fixed_labels.nii.gz", "moving_labels.nii.gz", "fixed_to_moving.tfm"):
        assert (tmp_path / name).read_bytes() == (paths.SAMPLE_DATA / "brain3d" / name).read_bytes(), name
