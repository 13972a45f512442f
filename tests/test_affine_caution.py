"""A fitted affine that scales an axis far (more than 1.25x or less than 0.8x) is kept but said, in both engines.

Between two images of one anatomy such a fit is usually wrong (the prostate MR -> ultrasound pairs:
1.69 x 0.86 x 0.63, gland Dice 0); when it is right, the user is told to check, not overruled.
"""

from __future__ import annotations

import numpy as np
from helpers import about_centre, moving_for
from scipy.ndimage import gaussian_filter

from regviewer.core.image import Image
from regviewer.registration.base import Request
from regviewer.registration.classic import implausible_scaling
from regviewer.registration.registry import get_method


def test_implausible_scaling_names_the_scales_outside_the_plausible_range():
    assert implausible_scaling(np.diag([1.2, 0.85, 1.0])) == ""
    said = implausible_scaling(np.diag([1.4, 1.0, 0.9]))
    assert "1.40, 1.00, 0.90" in said and "volume x1.26" in said


def _blobs(shape=(96, 96)) -> Image:
    array = gaussian_filter(np.random.default_rng(3).random(shape), 4.0)
    array = (array - array.min()) / (array.max() - array.min())
    array[:8], array[-8:], array[:, :8], array[:, -8:] = 0, 0, 0, 0
    return Image.from_array(array.astype(np.float32), spacing=(1.0, 1.0))


def test_the_simpleitk_affine_says_when_it_scales_an_axis_far():
    fixed = _blobs()
    truth = about_centre(fixed, np.diag([1.45, 1.0]), (0.0, 0.0))
    result = get_method("affine").run(Request(fixed, moving_for(fixed, truth), {"metric": "mse"}))
    scales = np.linalg.svd(result.transform.matrix, compute_uv=False)
    assert scales.max() > 1.3  # the scaling was found ...
    assert any(line.startswith("warning: the affine stage scales the image by") for line in result.log)
    assert "check the result" in result.message  # ... kept, and said

    plain = get_method("affine").run(Request(fixed, moving_for(fixed, about_centre(fixed, np.eye(2), (2.0, -1.0)))))
    assert not any(line.startswith("warning:") for line in plain.log)
