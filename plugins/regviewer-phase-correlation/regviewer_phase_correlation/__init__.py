"""Translation by phase correlation: an example RegViewer plugin using only the public API."""

from __future__ import annotations

import time

import numpy as np
from skimage.registration import phase_cross_correlation

from regviewer.core.progress import CancelToken, ProgressEvent, ignore_progress
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, CompositeTransform
from regviewer.registration.base import Parameter, Request, Result, resolve_parameters


class PhaseCorrelationMethod:
    name = "phase-correlation"
    label = "Translation (phase correlation)"
    description = "Finds the shift between the images with an FFT; fast, robust to large translations, same modality."
    parameters = (
        Parameter(
            "upsample", "int", 10, "Sub-voxel precision", "1 / upsample voxels of precision.", 1, 100, expert=True
        ),
    )

    def run(self, request: Request, progress=ignore_progress, cancel: CancelToken | None = None) -> Result:
        started = time.perf_counter()
        parameters = resolve_parameters(self, request.parameters)
        fixed = request.fixed
        ndim = fixed.ndim
        # The moving image on the fixed grid (through the initial transform when there is one).
        moving = resample_image(request.moving, fixed.geometry, request.initial_transform, "linear")
        shift_zyx, _, _ = phase_cross_correlation(
            np.asarray(fixed.array, np.float32),
            moving.array,
            upsample_factor=parameters["upsample"],
            normalization=None,
        )
        # fixed(x) ~ moving(x - shift): the fixed -> moving map is x -> x - shift (converted from voxels to mm).
        shift_mm = fixed.direction @ (np.asarray(shift_zyx)[::-1] * fixed.spacing)
        translation = AffineTransform(np.eye(ndim), -shift_mm)
        transform = (
            translation
            if request.initial_transform is None
            else CompositeTransform([translation, request.initial_transform])
        )
        progress(ProgressEvent(self.name, 0, 1, 0, None, f"shift {np.round(-shift_mm, 2).tolist()} mm"))
        return Result(
            self.name,
            transform,
            "completed",
            parameters,
            time.perf_counter() - started,
            message=f"translation {np.round(-shift_mm, 3).tolist()} mm",
        )
