"""Shared plumbing for the SimpleITK engines: inputs, metrics, masks, progress, cancel.

SimpleITK releases the Python lock while it runs, so a GUI thread stays responsive; the iteration
callback below is the only Python work per iteration and is kept small (a preview transform is
copied only every ``preview_every`` iterations).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Image
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent
from regviewer.core.transforms import Transform
from regviewer.registration.base import Parameter, Request

METRICS = ("mse", "ncc", "mi", "ants_ncc")

METRIC_HELP = (
    "Similarity measure. mse: same modality and intensity scale; ncc: same modality, any linear "
    "intensity change (robust default for MR/CT within one modality); mi: Mattes mutual information, "
    "for different modalities or contrasts; ants_ncc: local correlation (slow, for strong bias fields)."
)


def metric_parameter(default: str) -> Parameter:
    return Parameter("metric", "choice", default, "Metric", METRIC_HELP, choices=METRICS)


def pyramid_parameters(shrink: tuple[int, ...], sigmas: tuple[float, ...], iterations: int) -> tuple[Parameter, ...]:
    return (
        Parameter("shrink_factors", "int_list", shrink, "Shrink factors", "Downsampling per resolution level, coarse to fine.", 1, 32, expert=True),
        Parameter("smoothing_sigmas", "float_list", sigmas, "Smoothing", "Gaussian smoothing per level, in voxels of the fixed image.", 0, 16, unit="voxels", expert=True),
        Parameter("iterations", "int", iterations, "Iterations", "Maximum optimiser iterations per level.", 1, 10000),
    )


def sampling_parameter(default: float) -> Parameter:
    return Parameter(
        "sampling_percentage", "float", default, "Sampling",
        "Share of fixed voxels (inside the fixed mask when one is given) used to evaluate the metric; "
        "lower is faster, higher is more precise.", 0.1, 100, unit="%", expert=True,
    )


def float_image(image: Image) -> sitk.Image:
    return sitk.Cast(image.to_sitk(), sitk.sitkFloat32)


def mask_image(mask: Image, role: str) -> sitk.Image:
    """A uint8 SimpleITK mask; refuses empty masks."""
    binary = np.asarray(mask.array) > 0
    if not binary.any():
        raise InputMismatchError(f"{role} mask {mask.name or ''} is empty (no voxel > 0)".replace("  ", " "))
    return Image(binary.astype(np.uint8), mask.geometry).to_sitk()


def check_masks(request: Request) -> None:
    """Refuse masks of the wrong dimension and fixed/moving masks whose physical extents do not overlap."""
    for role, mask, image in (("fixed", request.fixed_mask, request.fixed), ("moving", request.moving_mask, request.moving)):
        if mask is not None and mask.ndim != image.ndim:
            raise InputMismatchError(f"the {role} mask is {mask.ndim}D but the {role} image is {image.ndim}D")
    if request.fixed_mask is not None and request.moving_mask is not None:
        low_f, high_f = _mask_bounds(request.fixed_mask)
        low_m, high_m = _mask_bounds(request.moving_mask)
        if request.initial_transform is not None:
            corners = np.array(np.meshgrid(*zip(low_f, high_f), indexing="ij")).reshape(len(low_f), -1).T
            mapped = request.initial_transform.transform_points(corners)
            low_f, high_f = mapped.min(axis=0), mapped.max(axis=0)
        if np.any(high_f < low_m) or np.any(high_m < low_f):
            raise InputMismatchError("the fixed and moving masks do not overlap in physical space")


def _mask_bounds(mask: Image) -> tuple[np.ndarray, np.ndarray]:
    indices = np.argwhere(np.asarray(mask.array) > 0)
    if len(indices) == 0:
        raise InputMismatchError(f"mask {mask.name} is empty (no voxel > 0)")
    corners = np.array([indices.min(axis=0), indices.max(axis=0)])[:, ::-1]
    box = np.array(np.meshgrid(*corners.T, indexing="ij")).reshape(mask.ndim, -1).T
    points = mask.index_to_physical(box)
    return points.min(axis=0), points.max(axis=0)


def set_metric(method: sitk.ImageRegistrationMethod, name: str, bins: int = 32, radius: int = 2) -> None:
    if name == "mse":
        method.SetMetricAsMeanSquares()
    elif name == "ncc":
        method.SetMetricAsCorrelation()
    elif name == "mi":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    elif name == "ants_ncc":
        method.SetMetricAsANTSNeighborhoodCorrelation(radius=radius)
    else:
        raise InputMismatchError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")


@dataclass
class RunRecord:
    """What the iteration callback collected."""

    history: list[tuple[str, int, int, float]] = field(default_factory=list)
    cancelled: bool = False
    started: float = field(default_factory=time.perf_counter)


def configure_common(
    method: sitk.ImageRegistrationMethod, request: Request, parameters: dict, seed: int = 20241121
) -> None:
    """Metric, masks, sampling, pyramid and interpolator shared by all intensity methods."""
    set_metric(method, parameters["metric"])
    shrink = tuple(parameters["shrink_factors"])
    sigmas = tuple(parameters["smoothing_sigmas"])
    if len(shrink) != len(sigmas):
        raise InputMismatchError(f"{len(shrink)} shrink factors but {len(sigmas)} smoothing sigmas: give one per level")
    method.SetShrinkFactorsPerLevel(list(shrink))
    method.SetSmoothingSigmasPerLevel(list(sigmas))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    percentage = float(parameters["sampling_percentage"])
    if percentage >= 100:
        method.SetMetricSamplingStrategy(method.NONE)
    else:
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(percentage / 100.0, seed)
    method.SetInterpolator(sitk.sitkLinear)
    check_masks(request)
    if request.fixed_mask is not None:
        method.SetMetricFixedMask(mask_image(request.fixed_mask, "fixed"))
    if request.moving_mask is not None:
        method.SetMetricMovingMask(mask_image(request.moving_mask, "moving"))


def execute(
    method: sitk.ImageRegistrationMethod,
    request: Request,
    stage: str,
    n_levels: int,
    max_iterations: int,
    progress: ProgressCallback,
    cancel: CancelToken,
    current_transform: Callable[[], Transform],
    preview_every: int = 10,
) -> RunRecord:
    """Run ``method`` with progress events and cooperative cancel (stops at the next iteration)."""
    record = RunRecord()
    count = [0]

    def on_iteration() -> None:
        if cancel.cancelled:
            record.cancelled = True
            method.StopRegistration()
            return
        level, iteration, value = method.GetCurrentLevel(), method.GetOptimizerIteration(), method.GetMetricValue()
        record.history.append((stage, level, iteration, float(value)))
        count[0] += 1
        preview = current_transform() if preview_every and count[0] % preview_every == 0 else None
        progress(ProgressEvent(stage, level, n_levels, iteration, float(value), preview=preview, max_iterations=max_iterations))

    def on_level() -> None:
        level = method.GetCurrentLevel()
        progress(ProgressEvent(stage, level, n_levels, 0, None, f"{stage}: level {level + 1}/{n_levels}", max_iterations=max_iterations))

    method.AddCommand(sitk.sitkIterationEvent, on_iteration)
    method.AddCommand(sitk.sitkMultiResolutionIterationEvent, on_level)
    method.Execute(float_image(request.fixed), float_image(request.moving))
    record.cancelled = record.cancelled or cancel.cancelled
    return record
