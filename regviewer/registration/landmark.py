"""Landmark-only registration methods: landmark-rigid, -similarity, -affine (least squares) and -tps.

They use ``Request.fixed_landmarks`` / ``moving_landmarks`` (paired rows, LPS mm) and ignore the
intensities, so they run in milliseconds: the GUI refits them live while a landmark is dragged.

With an initial transform I (a previous stage), the fit is made on top of it: the moving landmarks
are carried back through I and the result is ``I(F(x))``, which maps the fixed landmarks onto the
moving ones like a fit without I, and keeps the chain's meaning for later stages. A TPS result keeps
the fixed grid as its domain, so that it can be saved (as affine + residual field, see core/tps.py).
"""

from __future__ import annotations

import time

import numpy as np

from regviewer.core.landmark_fit import LandmarkFitError, fit, minimum_pairs, pair_errors
from regviewer.core.progress import CancelToken, ProgressCallback, ignore_progress
from regviewer.core.transforms import CompositeTransform, simplify
from regviewer.registration.base import Parameter, Request, Result, resolve_parameters
from regviewer.registration.classic import check_pair


def landmark_arrays(request: Request) -> tuple[np.ndarray, np.ndarray]:
    """The request's paired landmarks as (N, ndim) arrays, checked (clear messages)."""
    if request.fixed_landmarks is None or request.moving_landmarks is None:
        raise LandmarkFitError(
            "landmark registration needs fixed and moving landmarks (place pairs, or give "
            "--fixed-landmarks and --moving-landmarks)"
        )
    fixed = np.atleast_2d(np.asarray(request.fixed_landmarks, dtype=np.float64))
    moving = np.atleast_2d(np.asarray(request.moving_landmarks, dtype=np.float64))
    ndim = request.fixed.ndim
    if fixed.shape != moving.shape or fixed.shape[1] != ndim:
        raise LandmarkFitError(
            f"landmarks must be paired {ndim}D points: got {fixed.shape[0]} fixed ({fixed.shape[1]}D) "
            f"and {moving.shape[0]} moving ({moving.shape[1]}D)"
        )
    return fixed, moving


class _LandmarkMethod:
    """Fit ``kind`` to the request's landmark pairs (see the module docstring)."""

    name = ""
    label = ""
    description = ""
    kind = ""
    parameters: tuple[Parameter, ...] = ()

    def run(
        self, request: Request, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None
    ) -> Result:
        started = time.perf_counter()
        parameters = resolve_parameters(self, request.parameters)
        check_pair(request)
        fixed, moving = landmark_arrays(request)
        initial = request.initial_transform
        target = moving if initial is None else np.atleast_2d(initial.inverse_transform_points(moving))
        fitted = fit(self.kind, fixed, target, parameters.get("regularisation", 0.0), request.fixed.geometry)
        transform = fitted if initial is None else simplify(CompositeTransform([fitted, initial]))
        errors = pair_errors(transform, fixed, moving)
        message = f"{len(fixed)} landmark pairs; residual mean {errors.mean():.3f} mm, max {errors.max():.3f} mm"
        return Result(
            self.name,
            transform,
            "completed",
            parameters,
            time.perf_counter() - started,
            message=message,
            log=(f"{self.name}: {message}",),
        )


class LandmarkRigidMethod(_LandmarkMethod):
    name = "landmark-rigid"
    label = "Landmarks: rigid"
    kind = "rigid"
    description = (
        f"rotation + translation fitted to landmark pairs (least squares); at least {minimum_pairs('rigid', 2)} "
        f"pairs in 2D, {minimum_pairs('rigid', 3)} in 3D"
    )


class LandmarkSimilarityMethod(_LandmarkMethod):
    name = "landmark-similarity"
    label = "Landmarks: similarity"
    kind = "similarity"
    description = "rotation + isotropic scale + translation fitted to landmark pairs (least squares)"


class LandmarkAffineMethod(_LandmarkMethod):
    name = "landmark-affine"
    label = "Landmarks: affine"
    kind = "affine"
    description = "affine map fitted to landmark pairs (least squares); at least 3 pairs in 2D, 4 in 3D"


class LandmarkTpsMethod(_LandmarkMethod):
    name = "landmark-tps"
    label = "Landmarks: thin-plate spline"
    kind = "tps"
    description = "thin-plate spline through the landmark pairs (smooth deformable; BigWarp-style)"
    parameters = (
        Parameter(
            "regularisation",
            "float",
            0.0,
            "Regularisation",
            minimum=0.0,
            maximum=1e6,
            help="0 passes exactly through every landmark; larger values smooth the map towards an affine "
            "(use it when landmarks are noisy)",
        ),
    )
