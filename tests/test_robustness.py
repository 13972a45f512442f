"""Safety nets for images a preset was not made for: no silent mirrored / collapsed results, and warnings."""

import numpy as np

from regviewer.core.evaluation import quality_warnings
from regviewer.core.io import read_image
from regviewer.core.transforms import AffineTransform
from regviewer.registration.base import Request
from regviewer.registration.classic import linear_problem
from regviewer.registration.pipeline import run_chain
from regviewer.registration.presets import get_preset


def test_linear_problem_flags_mirrors_collapses_and_implausible_scales():
    assert linear_problem(np.diag([1.1, 0.9, 1.05])) == ""
    assert "mirrors" in linear_problem(np.diag([-1.0, 1.0, 1.0]))
    assert "mirrors" in linear_problem(np.diag([1.0, 1.0, 0.0]))
    assert "scales" in linear_problem(np.diag([1.0, 0.3, 1.0]))
    assert "finite" in linear_problem(np.full((2, 2), np.nan))


def test_affine_preset_on_mr_to_ultrasound_keeps_a_plausible_transform(shared_data):
    # Prostate MR (moving) to ultrasound (fixed): Mattes MI drives the affine stage towards shrinking
    # the image; the stage must fall back to its start (the rigid result) and say so.
    folder = shared_data / "prostate_cohort" / "test"
    fixed = read_image(folder / "fixed_images" / "case000026.nii.gz")
    moving = read_image(folder / "moving_images" / "case000026.nii.gz")
    result = run_chain(get_preset("affine").stages, Request(fixed, moving))
    assert isinstance(result.transform, AffineTransform)
    assert linear_problem(result.transform.matrix) == ""
    assert any(line.startswith("warning: the affine stage diverged") for line in result.log)


def test_quality_warnings():
    before = {"dice_mean": 0.6, "ncc": 0.8, "tre_mean_mm": 3.0}
    assert quality_warnings(before, {"dice_mean": 0.7, "ncc": 0.9, "tre_mean_mm": 1.0, "folded_pct": 0.0}) == []
    warnings = quality_warnings(before, {"dice_mean": 0.5, "ncc": 0.9, "tre_mean_mm": 4.0, "folded_pct": 1.5})
    assert len(warnings) == 3
    assert "folds in 1.5%" in warnings[0] and "Dice" in warnings[1] and "TRE" in warnings[2]


def test_jacobian_figures_of_a_linear_map_respect_the_fixed_mask():
    from regviewer.core.evaluation import EvaluationData, jacobian_figures
    from regviewer.core.image import Image

    image = Image.from_array(np.zeros((10, 12, 14), np.float32))
    mask = np.zeros(image.shape, np.uint8)
    mask[2:5, 2:5, 2:5] = 1
    data = EvaluationData(image, image, fixed_mask=image.with_array(mask, is_label=True))
    mirrored = jacobian_figures(AffineTransform(np.diag([-1.0, 1.0, 1.0])), data)
    assert mirrored["folded_count"] == 27 and mirrored["folded_pct"] == 100.0
    scaled = jacobian_figures(AffineTransform(np.diag([1.1, 1.0, 1.0])), data)
    assert scaled["folded_count"] == 0 and abs(scaled["jacobian_min"] - 1.1) < 1e-12
