"""Multi-resolution demons (SimpleITK: fast symmetric forces, or diffeomorphic), for same-modality images.

The moving image is first resampled through the request's initial transform (usually an affine
stage), then a dense displacement field on the fixed grid is estimated coarse to fine. The result is
``initial(x + u(x))``: a composite of the field and the initial transform, so that points outside the
field's grid keep the affine part.
"""

from __future__ import annotations

import time

import SimpleITK as sitk

from regviewer.core.errors import RegViewerError
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from regviewer.core.transforms import AffineTransform, CompositeTransform, DisplacementFieldTransform, Transform
from regviewer.registration import sitk_driver
from regviewer.registration.base import Parameter, Request, Result, resolve_parameters
from regviewer.registration.classic import check_pair


def _level_image(image: sitk.Image, shrink: int, sigma_voxels: float) -> sitk.Image:
    if sigma_voxels > 0:
        image = sitk.SmoothingRecursiveGaussian(image, [sigma_voxels * s for s in image.GetSpacing()])
    return sitk.Shrink(image, [shrink] * image.GetDimension()) if shrink > 1 else image


class DemonsMethod:
    name = "demons"
    label = "Deformable (demons)"
    description = (
        "Demons: a dense, smooth displacement field for images of the same modality and intensity scale, "
        "estimated coarse to fine. Fast on large volumes; run it after an affine stage."
    )
    parameters = (
        *sitk_driver.pyramid_parameters((4, 2, 1), (2.0, 1.0, 0.0)),
        Parameter(
            "iterations",
            "int_list",
            (60, 40, 5),
            "Iterations per level",
            "Demons iterations at each level; the full-resolution level needs only a few.",
            0,
            10000,
        ),
        Parameter(
            "field_sigma",
            "float",
            2.0,
            "Field smoothing",
            "Gaussian smoothing of the displacement field after each iteration (the regularisation), in voxels of each level.",
            0.0,
            10.0,
            unit="voxels",
        ),
        Parameter(
            "max_step",
            "float",
            0.5,
            "Maximum step",
            "Largest update per iteration, in voxels of the level.",
            0.01,
            5.0,
            unit="voxels",
            expert=True,
        ),
        Parameter(
            "variant",
            "choice",
            "symmetric",
            "Variant",
            "symmetric: fast symmetric forces (default); diffeomorphic: exponential updates, invertible by construction.",
            choices=("symmetric", "diffeomorphic"),
            expert=True,
        ),
        Parameter(
            "histogram_matching",
            "bool",
            True,
            "Match histograms",
            "Match the moving histogram to the fixed one before registering.",
            expert=True,
        ),
    )

    def run(
        self, request: Request, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None
    ) -> Result:
        cancel = cancel or CancelToken()
        started = time.perf_counter()
        parameters = resolve_parameters(self, request.parameters)
        check_pair(request)
        shrinks, sigmas = parameters["shrink_factors"], parameters["smoothing_sigmas"]
        iterations = parameters["iterations"]
        if not len(shrinks) == len(sigmas) == len(iterations):
            raise RegViewerError(
                f"{len(shrinks)} shrink factors, {len(sigmas)} smoothing sigmas and {len(iterations)} iteration counts: give one per level"
            )
        fixed = sitk_driver.float_image(request.fixed)
        initial_sitk = (
            request.initial_transform.to_sitk()
            if request.initial_transform is not None
            else sitk.Transform(fixed.GetDimension(), sitk.sitkIdentity)
        )
        moving = sitk.Resample(sitk_driver.float_image(request.moving), fixed, initial_sitk, sitk.sitkLinear, 0.0)
        if parameters["histogram_matching"]:
            moving = sitk.HistogramMatching(
                moving, fixed, numberOfHistogramLevels=256, numberOfMatchPoints=7, thresholdAtMeanIntensity=True
            )

        record = sitk_driver.RunRecord()
        history = record.history
        field: sitk.Image | None = None
        cancelled = False
        n_levels = len(shrinks)
        for level, (shrink, sigma, level_iterations) in enumerate(zip(shrinks, sigmas, iterations)):
            if cancel.cancelled:
                cancelled = True
                break
            fixed_level = _level_image(fixed, int(shrink), float(sigma))
            moving_level = _level_image(moving, int(shrink), float(sigma))
            initial_field = self._initial_field(field, fixed_level)
            demons = self._filter(parameters, level_iterations)
            state = {"iteration": 0}

            def on_iteration(demons=demons, level=level, state=state) -> None:
                if cancel.cancelled:
                    record.cancelled = True
                    raise sitk_driver.EngineAborted()
                value = float(demons.GetMetric())
                history.append((self.name, level, state["iteration"], value))
                progress(
                    ProgressEvent(
                        self.name, level, n_levels, state["iteration"], value, max_iterations=level_iterations
                    )
                )
                state["iteration"] += 1

            demons.AddCommand(sitk.sitkIterationEvent, on_iteration)
            progress(
                ProgressEvent(
                    self.name, level, n_levels, 0, None, f"demons: level {level + 1}/{n_levels}, shrink {shrink}"
                )
            )
            outcome: dict = {}
            try:
                sitk_driver.run_cancellable(
                    lambda: outcome.update(field=demons.Execute(fixed_level, moving_level, initial_field)), record
                )
            except RuntimeError as error:
                raise RegViewerError(
                    f"demons registration failed: {str(error).strip().splitlines()[-1][:200]}"
                ) from None
            if record.cancelled or cancel.cancelled:
                cancelled = True
                break  # keep the field of the last completed level
            field = outcome["field"]
            # Preview: the level's own (coarse) field is already a valid transform; no resampling needed.
            preview = self._with_initial(DisplacementFieldTransform.from_sitk_image(field), request)
            progress(ProgressEvent(self.name, level, n_levels, state["iteration"], None, preview=preview))

        if field is not None:
            transform = self._combine(field, fixed, request)
        else:  # cancelled before the first level finished
            transform = request.initial_transform or AffineTransform.identity(request.fixed.ndim)
        status = "cancelled" if cancelled else "completed"
        return Result(
            method=self.name,
            transform=transform,
            status=status,
            parameters=parameters,
            runtime_s=time.perf_counter() - started,
            metric_history=history,
            message="cancelled by the user" if cancelled else f"{n_levels} levels done",
            log=(f"{self.label}: {status} after {len(history)} iterations", transform.describe()),
        )

    @staticmethod
    def _filter(parameters: dict, iterations: int) -> sitk.ImageFilter:
        if parameters["variant"] == "diffeomorphic":
            demons = sitk.DiffeomorphicDemonsRegistrationFilter()
        else:
            demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
        demons.SetNumberOfIterations(int(iterations))
        demons.SetMaximumUpdateStepLength(parameters["max_step"])
        demons.SetSmoothDisplacementField(parameters["field_sigma"] > 0)
        demons.SetStandardDeviations(max(parameters["field_sigma"], 0.01))
        demons.SetSmoothUpdateField(False)
        demons.SetIntensityDifferenceThreshold(0.0)
        demons.SetUseImageSpacing(False)  # steps and sigmas in voxels of the level
        return demons

    @staticmethod
    def _initial_field(previous: sitk.Image | None, reference: sitk.Image) -> sitk.Image:
        """The previous level's field resampled (mm values unchanged) onto this level's grid, or zeros."""
        if previous is None:
            field = sitk.Image(reference.GetSize(), sitk.sitkVectorFloat64, reference.GetDimension())
            field.CopyInformation(reference)
            return field
        identity = sitk.Transform(reference.GetDimension(), sitk.sitkIdentity)
        return sitk.Resample(previous, reference, identity, sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)

    @staticmethod
    def _combine(field: sitk.Image, fixed: sitk.Image, request: Request) -> Transform:
        """``initial(x + u(x))`` with u resampled onto the full fixed grid."""
        full = DemonsMethod._initial_field(field, fixed) if field.GetSize() != fixed.GetSize() else field
        return DemonsMethod._with_initial(DisplacementFieldTransform.from_sitk_image(full), request)

    @staticmethod
    def _with_initial(dense: DisplacementFieldTransform, request: Request) -> Transform:
        return dense if request.initial_transform is None else CompositeTransform([dense, request.initial_transform])
