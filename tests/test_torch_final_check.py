"""The torch engine's final check with label maps (their Dice decides) and its coordinate dtype per device (MPS: float32)."""

import numpy as np
import pytest
import torch

from regviewer.core.image import Geometry, Image
from regviewer.core.transforms import AffineTransform
from regviewer.registration.torch_backend import instance, ops

SHAPE = (20, 28, 28)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread (the machine is shared; these volumes are tiny)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


GEOMETRY = Geometry(SHAPE, np.array([2.0, 1.0, 1.0]), np.zeros(3), np.eye(3))  # spacing x, y, z


def _blob(centre_x: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1], 0 : SHAPE[2]].astype(np.float32)
    return np.exp(-((z - 10) ** 2 + (y - 14) ** 2 + (x - centre_x) ** 2) / 30.0) + 0.05 * rng.random(
        SHAPE, dtype=np.float32
    )


def _gland(centre_x: float) -> np.ndarray:
    z, y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1], 0 : SHAPE[2]]
    return (((z - 10) ** 2 + (y - 14) ** 2 + (x - centre_x) ** 2) < 25).astype(np.int16)


def _problem(labels: bool) -> instance.Problem:
    """The moving image is the fixed one shifted 3 voxels along x, but its label map is NOT shifted:
    aligning the images (the similarity improves) pulls the labels apart (their Dice falls from 1),
    as intensities can mislead on an MR -> ultrasound pair."""
    return instance.Problem(
        fixed=ops.image_to_tensor(Image(_blob(12), GEOMETRY)),
        moving=ops.image_to_tensor(Image(_blob(15), GEOMETRY)),
        fixed_geometry=GEOMETRY,
        moving_geometry=GEOMETRY,
        initial_matrix=np.eye(4),
        fixed_labels=ops.image_to_tensor(Image(_gland(12), GEOMETRY, is_label=True)) if labels else None,
        moving_labels=ops.image_to_tensor(Image(_gland(12), GEOMETRY, is_label=True)) if labels else None,
        label_values=(1,) if labels else (),
    )


SETTINGS = instance.Settings(
    shrink_factors=(2, 1), iterations=(20, 10), affine_shrink_factors=(2,), affine_iterations=30
)


def test_without_labels_the_run_follows_the_images():
    state = instance.InstanceOptimiser(_problem(labels=False), SETTINGS, lambda *a: None, lambda: False).run()
    assert state.values["final"] < state.values["start"]  # the similarity improves ...
    assert not state.dice and not state.warnings  # ... and nothing else is known: the final result is kept


def test_when_the_similarity_improves_but_the_label_dice_falls_the_better_dice_is_kept_with_a_warning():
    optimiser = instance.InstanceOptimiser(_problem(labels=True), SETTINGS, lambda *a: None, lambda: False)
    state = optimiser.run()
    assert state.values["final"] < state.values["start"]  # the images were aligned
    assert state.dice["start"] == pytest.approx(1.0)
    assert state.dice["final"] < 0.9  # ... which pulled the labels apart
    assert state.field_mm is None  # the start was kept (the affine stage moved the labels too)
    kept = optimiser.label_dice_of(state.affine, state.field_mm)
    assert kept == pytest.approx(1.0)
    assert len(state.warnings) == 1
    assert "lowered the label Dice" in state.warnings[0] and "although the similarity improved" in state.warnings[0]


def test_the_method_reports_the_kept_result_in_its_message_and_log():
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import Stage, run_chain

    fixed, moving = Image(_blob(12), GEOMETRY), Image(_blob(15), GEOMETRY)
    labels = Image(_gland(12), GEOMETRY, is_label=True)
    stage = Stage(
        "torch-deformable",
        {"shrink_factors": [2, 1], "iterations": [15, 5], "affine_iterations": 20, "threads": 1},
    )
    result = run_chain([stage], Request(fixed, moving, fixed_labels=labels, moving_labels=labels))
    assert "lowered the label Dice" in result.message
    assert any(line.startswith("label Dice: start 1.000") for line in result.log)
    assert isinstance(result.transform, AffineTransform)  # the start or the affine stage's result: no field
    assert np.abs(result.transform.homogeneous[:3, 3]).max() < 1.0  # not the 3 mm shift of the images
    assert any(
        line.startswith("warning: the registration lowered the label Dice") for line in result.log
    )  # metrics.json


@pytest.mark.parametrize(
    ("device", "dtype"),
    [("cpu", torch.float64), ("cuda", torch.float64), ("cuda:1", torch.float64), ("mps", torch.float32)],
)
def test_coordinate_matrices_are_float32_on_mps_only(device, dtype):
    assert ops.matrix_dtype(device) == dtype
    assert ops.matrix_dtype(torch.device(device)) == dtype


def test_the_affine_stage_runs_in_float32_as_on_mps(monkeypatch):
    """MPS has no float64: with float32 coordinate matrices the affine stage gives the float64 result."""
    settings = instance.Settings(shrink_factors=(), affine_shrink_factors=(2, 1), affine_iterations=40)
    reference = instance.InstanceOptimiser(_problem(labels=False), settings, lambda *a: None, lambda: False).run()
    monkeypatch.setattr(ops, "matrix_dtype", lambda device: torch.float32)
    optimiser = instance.InstanceOptimiser(_problem(labels=False), settings, lambda *a: None, lambda: False)
    assert optimiser._current_affine_tensor().dtype == torch.float32
    state = optimiser.run()
    assert np.all(np.isfinite(state.affine.homogeneous))
    assert state.values["final"] < state.values["start"]  # it moved towards the shift ...
    # ... as in float64 (Adam's path differs by rounding: close, not equal)
    assert np.allclose(state.affine.matrix, reference.affine.matrix, atol=0.01)
    assert np.allclose(state.affine.translation, reference.affine.translation, atol=0.2)
    assert state.values["final"] == pytest.approx(reference.values["final"], abs=1e-3)


def test_without_labels_a_field_squeezing_much_of_the_image_is_reported():
    optimiser = instance.InstanceOptimiser(_problem(labels=False), SETTINGS, lambda *a: None, lambda: False)
    shape = optimiser.field_shape(1)
    x_mm = torch.arange(shape[2], dtype=torch.float32) * float(
        (SHAPE[2] - 1) / (shape[2] - 1) * GEOMETRY.spacing[0]
    )  # mm along the array x axis of the field grid
    field_mm = torch.zeros(1, 3, *shape)
    field_mm[0, 2] = -0.7 * x_mm  # x -> 0.3 x: the whole image squeezed about 3-fold along x
    optimiser.state.field_mm = field_mm
    optimiser._check_geometry()
    assert optimiser.state.stretched == pytest.approx(1.0, abs=0.2)
    assert len(optimiser.state.warnings) == 1 and "compresses or stretches" in optimiser.state.warnings[0]
    optimiser.state.warnings.clear()
    optimiser.state.field_mm = 0.1 * field_mm  # 7 % squeeze: fine
    optimiser._check_geometry()
    assert optimiser.state.stretched == 0.0 and not optimiser.state.warnings


def test_without_labels_an_affine_that_shrinks_an_axis_by_a_third_is_reported():
    """Prostate pair 26 (MR -> ultrasound, LNCC): the affine scales 1.17, 0.77, 0.69 and the gland Dice falls."""
    optimiser = instance.InstanceOptimiser(_problem(labels=False), SETTINGS, lambda *a: None, lambda: False)
    optimiser.state.affine = AffineTransform.from_homogeneous(np.diag([1.17, 0.77, 0.69, 1.0]))
    optimiser._check_geometry()
    assert len(optimiser.state.warnings) == 1 and "scales the image by 1.17, 0.77, 0.69" in optimiser.state.warnings[0]
    optimiser.state.warnings.clear()
    optimiser.state.affine = AffineTransform.from_homogeneous(np.diag([1.05, 0.95, 1.1, 1.0]))
    optimiser._check_geometry()
    assert not optimiser.state.warnings
