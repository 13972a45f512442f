"""Groupwise registration of a series of images into their common mean space.

Two methods:

- ``elastix-groupwise``: elastix's groupwise B-spline registration (Metz et al. 2011): the images, put on
  the first image's grid, are stacked along one extra dimension and registered to themselves with the
  ``VarianceOverLastDimensionMetric`` and a ``BSplineStackTransform`` (one B-spline per image, mean
  deformation subtracted). Each image's transform maps points of the mean space to that image.
- ``template``: an iterative mean template: register every image to the current mean with a pairwise
  preset (RegViewer's ``deformable`` by default), average the warped images, repeat.

Both give, per image, a fixed -> moving transform whose "fixed" space is the common (mean) space, the
image warped into it, and the mean image. 2D and 3D images (elastix-groupwise registers 3D series as
one 4D stack: itk-elastix 0.25.4's wheels include the 4D images it needs; tested on known 3D shifts).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import InputMismatchError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io.elastix_params import parse_parameter_text
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, BSplineTransform, Transform
from regviewer.registration import child_run
from regviewer.registration.elastix_log import LogFollower

METHODS = ("elastix-groupwise", "template")


@dataclass
class GroupwiseResult:
    """Per image: the mean space -> image transform and the warped image; plus the mean image."""

    method: str
    transforms: list[Transform]
    warped: list[Image]
    mean: Image
    status: str = "completed"
    runtime_s: float = 0.0
    history: list[tuple[str, int, int, float]] = field(default_factory=list)


def on_reference_grid(images: Sequence[Image]) -> list[Image]:
    """Every image on the first image's grid (physical identity), as float32."""
    if len(images) < 2:
        raise InputMismatchError("groupwise registration needs at least two images")
    reference = images[0]
    if any(image.ndim != reference.ndim for image in images):
        raise InputMismatchError("groupwise registration needs images of one dimension (all 2D or all 3D)")
    out = []
    for image in images:
        same = image.geometry.same_as(reference.geometry)
        resampled = image if same else resample_image(image, reference.geometry, None, "linear")
        out.append(resampled.with_array(np.asarray(resampled.array, dtype=np.float32)))
    return out


def groupwise_map(
    ndim: int, iterations: int, grid_spacing_mm: float, resolutions: int, samples: int
) -> dict[str, list[str]]:
    """elastix's groupwise parameter map (elastix manual / model zoo par0012-style)."""
    schedule = []
    for level in range(resolutions):
        shrink = 2 ** (resolutions - 1 - level)
        schedule += [str(shrink)] * ndim + ["0"]
    return {
        "Registration": ["MultiResolutionRegistration"],
        "FixedImagePyramid": ["FixedSmoothingImagePyramid"],
        "MovingImagePyramid": ["MovingSmoothingImagePyramid"],
        "ImagePyramidSchedule": schedule,
        "Interpolator": ["ReducedDimensionBSplineInterpolator"],
        "BSplineInterpolationOrder": ["1"],
        "Metric": ["VarianceOverLastDimensionMetric"],
        "SubtractMean": ["true"],
        "Optimizer": ["AdaptiveStochasticGradientDescent"],
        "AutomaticParameterEstimation": ["true"],
        "AutomaticScalesEstimation": ["false"],
        "Transform": ["BSplineStackTransform"],
        "FinalGridSpacingInPhysicalUnits": [f"{grid_spacing_mm:g}"],
        "NumberOfResolutions": [str(resolutions)],
        "MaximumNumberOfIterations": [str(iterations)],
        "ImageSampler": ["RandomCoordinate"],
        "NumberOfSpatialSamples": [str(samples)],
        "NewSamplesEveryIteration": ["true"],
        "ResampleInterpolator": ["FinalReducedDimensionBSplineInterpolator"],
        "FinalBSplineInterpolationOrder": ["1"],
        "Resampler": ["DefaultResampler"],
        "WriteResultImage": ["false"],
    }


def stack_child(workdir: str, images: list[Image], parameter_map: dict) -> None:
    """Child-process body: stack the images along a new last axis and run elastix on the stack."""
    from regviewer.registration.elastix import load_itk

    itk = load_itk()
    reference = images[0]
    ndim = reference.ndim
    stack = itk.image_from_array(
        np.ascontiguousarray(np.stack([np.asarray(i.array, dtype=np.float32) for i in images]))
    )
    stack.SetOrigin([*map(float, reference.origin), 0.0])
    stack.SetSpacing([*map(float, reference.spacing), 1.0])
    direction = np.eye(ndim + 1)
    direction[:ndim, :ndim] = reference.direction
    stack.SetDirection(itk.matrix_from_array(np.array(direction)))
    parameters = itk.ParameterObject.New()
    parameters.AddParameterMap(parameter_map)
    method = itk.ElastixRegistrationMethod.New(stack, stack)
    method.SetParameterObject(parameters)
    method.SetOutputDirectory(workdir)
    method.SetLogToFile(True)
    method.SetLogToConsole(False)
    method.Update()


def read_stack_transforms(path: Path) -> list[BSplineTransform]:
    """The per-image B-splines of an elastix BSplineStackTransform file (mean space -> image)."""
    entries = parse_parameter_text(path.read_text(encoding="utf-8", errors="replace"))
    if not entries.get("Transform") or entries["Transform"][0] != "BSplineStackTransform":
        raise RegViewerError(f"{path}: not a BSplineStackTransform")
    count = int(entries["NumberOfSubTransforms"][0])
    size = [int(v) for v in entries["GridSize"]]
    ndim = len(size)
    origin, spacing = [float(v) for v in entries["GridOrigin"]], [float(v) for v in entries["GridSpacing"]]
    direction = (
        np.array([float(v) for v in entries["GridDirection"]]).reshape(ndim, ndim).T
    )  # elastix: column by column
    parameters = np.array([float(v) for v in entries["TransformParameters"]])
    per_image = len(parameters) // count
    transforms = []
    for number in range(count):
        bspline = sitk.BSplineTransform(ndim, 3)
        bspline.SetFixedParameters(tuple(float(v) for v in (*size, *origin, *spacing, *direction.reshape(-1))))
        bspline.SetParameters(tuple(parameters[number * per_image : (number + 1) * per_image]))
        transforms.append(BSplineTransform(bspline))
    return transforms


def elastix_groupwise(
    images: Sequence[Image],
    iterations: int = 250,
    grid_spacing_mm: float = 16.0,
    resolutions: int = 3,
    samples: int = 2048,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> GroupwiseResult:
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    on_grid = on_reference_grid(images)
    parameter_map = groupwise_map(on_grid[0].ndim, iterations, grid_spacing_mm, resolutions, samples)
    if child_run.uses_fork():
        from regviewer.registration.elastix import load_itk

        load_itk()
    with tempfile.TemporaryDirectory(prefix="regviewer-groupwise-") as folder:
        work = Path(folder)
        follower = LogFollower(work / "elastix.log")
        history: list[tuple[str, int, int, float]] = []

        def poll() -> None:
            rows = follower.poll()
            history.extend(("elastix-groupwise", level, iteration, metric) for level, iteration, metric in rows)
            if rows:
                level, iteration, metric = rows[-1]
                progress(
                    ProgressEvent("elastix-groupwise", level, resolutions, iteration, metric, max_iterations=iterations)
                )

        outcome = child_run.run_in_child(stack_child, (folder, on_grid, parameter_map), work, cancel, on_poll=poll)
        if outcome.status == "failed":
            raise RegViewerError(f"elastix groupwise registration failed: {outcome.message}")
        if outcome.status == "cancelled":
            transforms: list[Transform] = [AffineTransform.identity(on_grid[0].ndim) for _ in on_grid]
        else:
            transforms = list(read_stack_transforms(work / "TransformParameters.0.txt"))
    return _finish("elastix-groupwise", images, on_grid[0], transforms, outcome.status, started, history)


def template_groupwise(
    images: Sequence[Image],
    preset: str = "deformable",
    rounds: int = 2,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> GroupwiseResult:
    """Register every image to the running mean with ``preset``; ``rounds`` updates of the mean."""
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import run_chain
    from regviewer.registration.presets import get_preset

    cancel = cancel or CancelToken()
    started = time.perf_counter()
    on_grid = on_reference_grid(images)
    reference = on_grid[0]
    mean = reference.with_array(
        np.mean([np.asarray(i.array, dtype=np.float64) for i in on_grid], axis=0).astype(np.float32)
    )
    transforms: list[Transform] = [AffineTransform.identity(reference.ndim) for _ in on_grid]
    status = "completed"
    for _ in range(rounds):
        for number, image in enumerate(images):
            result = run_chain(get_preset(preset).stages, Request(mean, image), progress, cancel)
            if result.status != "completed":
                status = result.status
                break
            transforms[number] = result.transform
        if status != "completed":
            break
        warped = [
            resample_image(image, reference.geometry, transform, "linear")
            for image, transform in zip(images, transforms)
        ]
        mean = reference.with_array(
            np.mean([np.asarray(w.array, dtype=np.float64) for w in warped], axis=0).astype(np.float32)
        )
    return _finish("template", images, reference, transforms, status, started, [])


def _finish(
    method: str,
    images: Sequence[Image],
    reference: Image,
    transforms: list[Transform],
    status: str,
    started: float,
    history: list,
) -> GroupwiseResult:
    warped = [
        resample_image(image, reference.geometry, transform, "linear") for image, transform in zip(images, transforms)
    ]
    mean = reference.with_array(
        np.mean([np.asarray(w.array, dtype=np.float64) for w in warped], axis=0).astype(np.float32), name="mean"
    )
    return GroupwiseResult(method, transforms, warped, mean, status, time.perf_counter() - started, history)
