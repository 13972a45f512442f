"""Shared plumbing for the SimpleITK engines: inputs, metrics, masks, progress, cancel.

SimpleITK releases the Python lock while it runs, so a GUI thread stays responsive; the iteration
callback below is the only Python work per iteration and is kept small (a preview transform is
copied only every ``preview_every`` iterations).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Image
from regviewer.core.itk_warnings import quiet_itk
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent
from regviewer.core.transforms import Transform
from regviewer.registration.base import Parameter, Request

METRICS = ("mse", "ncc", "mi", "ants_ncc")
SEED = 20241121  # fixed sampling seed: the same inputs give the same result
MIN_SAMPLES = 5000  # fewest metric samples per level for percentage-based sampling

METRIC_HELP = (
    "Similarity measure. mse: same modality and intensity scale; ncc: same modality, any linear "
    "intensity change (robust default for MR/CT within one modality); mi: Mattes mutual information, "
    "for different modalities or contrasts; ants_ncc: local correlation (slow, for strong bias fields)."
)


def metric_parameter(default: str) -> Parameter:
    return Parameter("metric", "choice", default, "Metric", METRIC_HELP, choices=METRICS)


def pyramid_parameters(shrink: tuple[int, ...], sigmas: tuple[float, ...]) -> tuple[Parameter, ...]:
    """Shrink factors and smoothing per resolution level (one value per level, coarse to fine)."""
    return (
        Parameter(
            "shrink_factors",
            "int_list",
            shrink,
            "Shrink factors",
            "Downsampling per resolution level, coarse to fine.",
            1,
            32,
            expert=True,
        ),
        Parameter(
            "smoothing_sigmas",
            "float_list",
            sigmas,
            "Smoothing",
            "Gaussian smoothing per level, in voxels of the fixed image.",
            0,
            16,
            unit="voxels",
            expert=True,
        ),
    )


def sampling_parameter(default: float) -> Parameter:
    return Parameter(
        "sampling_percentage",
        "float",
        default,
        "Sampling",
        "Share of fixed voxels used to evaluate the metric (at least 5000 and at most max_samples per "
        "level); lower is faster, higher is more precise.",
        0.1,
        100,
        unit="%",
        expert=True,
    )


def float_image(image: Image) -> sitk.Image:
    return sitk.Cast(image.to_sitk(), sitk.sitkFloat32)


def mask_image(mask: Image, role: str) -> sitk.Image:
    """A uint8 SimpleITK mask; refuses empty masks."""
    binary = np.asarray(mask.array) > 0
    if not binary.any():
        raise InputMismatchError(
            f"the {role} mask {mask.name} is empty (no voxel > 0)"
            if mask.name
            else f"the {role} mask is empty (no voxel > 0)"
        )
    return Image(binary.astype(np.uint8), mask.geometry).to_sitk()


def check_masks(request: Request) -> None:
    """Refuse masks of the wrong dimension and fixed/moving masks whose physical extents do not overlap."""
    for role, mask, image in (
        ("fixed", request.fixed_mask, request.fixed),
        ("moving", request.moving_mask, request.moving),
    ):
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


def foreground_mask(image: Image, fraction: float = 0.02, dilation_mm: float = 3.0) -> Image:
    """Voxels above 2 % of the robust intensity range (0.5-99.5 percentiles), dilated by ~3 mm.

    Random metric samples are drawn inside it, so that none are wasted on empty background. If
    the image has no clear background (the mask would cover almost everything or nothing), the
    whole grid is used.
    """
    values = np.asarray(image.array, dtype=np.float32)
    low, high = np.percentile(values, [0.5, 99.5])
    binary = values > low + fraction * (high - low)
    if binary.mean() < 0.01 or binary.mean() > 0.98:
        binary = np.ones(values.shape, dtype=bool)
    mask = Image(binary.astype(np.uint8), image.geometry, name=f"{image.name} foreground", is_label=True)
    radius = [max(1, int(round(dilation_mm / s))) for s in image.spacing]
    dilated = sitk.BinaryDilate(mask.to_sitk(), radius)
    return Image.from_sitk(dilated, name=mask.name, is_label=True)


def level_voxel_counts(shrinks: tuple[int, ...], geometry_size: tuple[int, ...]) -> list[float]:
    """Number of voxels of each pyramid level."""
    return [float(np.prod([max(1, n // shrink) for n in geometry_size])) for shrink in shrinks]


def fractions_for_counts(
    counts: tuple[int, ...], shrinks: tuple[int, ...], geometry_size: tuple[int, ...], mask_fraction: float
) -> list[float]:
    """Sampling fractions that give about ``counts`` samples inside the mask at each level.

    ITK draws the fraction over the whole (shrunk) level grid, then drops samples outside the mask.
    """
    levels = level_voxel_counts(shrinks, geometry_size)
    return [
        float(min(1.0, count / max(voxels * max(mask_fraction, 1e-6), 1.0))) for count, voxels in zip(counts, levels)
    ]


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


def configure_common(
    method: sitk.ImageRegistrationMethod, request: Request, parameters: dict, seed: int = SEED
) -> None:
    """Metric, fixed / moving masks, pyramid, interpolator and (for ``sampling_percentage``) sampling."""
    set_metric(method, parameters["metric"])
    shrink = tuple(parameters["shrink_factors"])
    sigmas = tuple(parameters["smoothing_sigmas"])
    if len(shrink) != len(sigmas):
        raise InputMismatchError(f"{len(shrink)} shrink factors but {len(sigmas)} smoothing sigmas: give one per level")
    method.SetShrinkFactorsPerLevel(list(shrink))
    method.SetSmoothingSigmasPerLevel(list(sigmas))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    if "sampling_percentage" in parameters:
        # The percentage, kept between MIN_SAMPLES (a histogram metric on a small coarse level needs
        # enough points) and max_samples per level (a linear transform has few parameters; millions of
        # samples on a large volume only cost time).
        fractions = []
        for level_voxels in level_voxel_counts(shrink, request.fixed.geometry.size):
            count = float(parameters["sampling_percentage"]) / 100.0 * level_voxels
            count = min(max(count, MIN_SAMPLES), float(parameters.get("max_samples", 10**12)))
            fractions.append(min(1.0, count / level_voxels))
        if min(fractions) >= 1.0:
            method.SetMetricSamplingStrategy(method.NONE)
        else:
            method.SetMetricSamplingStrategy(method.RANDOM)
            method.SetMetricSamplingPercentagePerLevel(fractions, seed)
    method.SetInterpolator(sitk.sitkLinear)
    check_masks(request)
    if request.fixed_mask is not None:
        method.SetMetricFixedMask(mask_image(request.fixed_mask, "fixed"))
    if request.moving_mask is not None:
        method.SetMetricMovingMask(mask_image(request.moving_mask, "moving"))


class EngineAborted(Exception):
    """Raised inside a SimpleITK callback to unwind a cancelled run at once.

    ``StopRegistration()`` only ends the current level's optimiser (later levels still run) and the
    L-BFGS2 optimiser ignores it, so cancelling raises this from the iteration callback instead:
    SimpleITK aborts ``Execute`` with a RuntimeError and the in-place transform keeps the last iterate.
    """


def _install_quiet_abort_hook() -> None:
    """SimpleITK reports callback exceptions through sys.excepthook: keep EngineAborted out of the terminal."""
    previous = sys.excepthook
    if getattr(previous, "_regviewer_quiet_abort", False):
        return

    def hook(kind, value, traceback):  # noqa: ANN001
        if not issubclass(kind, EngineAborted):
            previous(kind, value, traceback)

    hook._regviewer_quiet_abort = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def run_cancellable(execute: Callable[[], object], record: RunRecord) -> None:
    """Call ``execute``; a RuntimeError after a cancel is the expected unwinding, anything else is raised."""
    _install_quiet_abort_hook()
    try:
        with quiet_itk():
            execute()
    except RuntimeError:
        if not record.cancelled:
            raise


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
    """Run ``method`` with progress events; a cancel unwinds it at the next iteration or level start."""
    record = RunRecord()
    state = {"count": 0, "in_level": 0}

    def check_cancel() -> None:
        if cancel.cancelled:
            record.cancelled = True
            raise EngineAborted()

    def on_level() -> None:
        check_cancel()
        state["in_level"] = 0
        level = method.GetCurrentLevel()
        progress(
            ProgressEvent(
                stage, level, n_levels, 0, None, f"{stage}: level {level + 1}/{n_levels}", max_iterations=max_iterations
            )
        )

    def on_iteration() -> None:
        check_cancel()
        # Count iterations ourselves: SimpleITK's L-BFGS2 restarts its counter within a level.
        level, iteration, value = method.GetCurrentLevel(), state["in_level"], method.GetMetricValue()
        state["in_level"] += 1
        record.history.append((stage, level, iteration, float(value)))
        state["count"] += 1
        preview = current_transform() if preview_every and state["count"] % preview_every == 0 else None
        progress(
            ProgressEvent(
                stage, level, n_levels, iteration, float(value), preview=preview, max_iterations=max_iterations
            )
        )

    method.AddCommand(sitk.sitkIterationEvent, on_iteration)
    method.AddCommand(sitk.sitkMultiResolutionIterationEvent, on_level)
    fixed, moving = float_image(request.fixed), float_image(request.moving)
    run_cancellable(lambda: method.Execute(fixed, moving), record)
    record.cancelled = record.cancelled or cancel.cancelled
    return record
